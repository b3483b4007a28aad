/*
 * concat_channel: concatenation of two NC4HW4 images (layout: see conv2d_1x1.cl) of one batch,
 * height and width along the channel axis: output channels 0 .. C0-1 come from input0, channels
 * C0 .. C0+C1-1 from input1. C0 need not be a multiple of 4, so each output lane is gathered on
 * its own. Channels past C0 + C1 are written as 0.
 *
 * Work-item (cb * W + w, n * H + h) computes one output pixel.
 */

#ifndef FLOAT
#define FLOAT float
#endif
#ifndef FLOAT4
#define FLOAT4 float4
#endif

#define RI_F(image, coord) read_imagef((image), SAMPLER, (coord))
#define WI_F(image, coord, value) write_imagef((image), (coord), (value))

#define GLOBAL_SIZE_2_DIMS __private const int global_size_dim0, __private const int global_size_dim1,

#define DEAL_NON_UNIFORM_DIM2(input1, input2)                        \
    if ((input1) >= global_size_dim0 || (input2) >= global_size_dim1) { \
        return;                                                      \
    }

#define GLOBAL_SIZE_3_DIMS                                                                 \
    __private const int global_size_dim0, __private const int global_size_dim1,           \
    __private const int global_size_dim2,

#define DEAL_NON_UNIFORM_DIM3(input1, input2, input3)                                      \
    if ((input1) >= global_size_dim0 || (input2) >= global_size_dim1 ||                   \
        (input3) >= global_size_dim2) {                                                    \
        return;                                                                            \
    }

#if defined(RELU)
#define ACTIVATE(v) fmax((v), (FLOAT4)(0.0f))
#elif defined(RELU6)
#define ACTIVATE(v) clamp((v), (FLOAT4)(0.0f), (FLOAT4)(6.0f))
#else
#define ACTIVATE(v) (v)
#endif

__constant sampler_t SAMPLER = CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP | CLK_FILTER_NEAREST;

#define LANE(v, i) ((i) == 0 ? (v).x : ((i) == 1 ? (v).y : ((i) == 2 ? (v).z : (v).w)))

__kernel void concat_channel(GLOBAL_SIZE_2_DIMS
                             __read_only image2d_t input0,
                             __read_only image2d_t input1,
                             __write_only image2d_t output,
                             __private const int channels0,
                             __private const int channels1,
                             __private const int width) {
    const int channel_width_idx = get_global_id(0);
    const int batch_height_idx = get_global_id(1);
    DEAL_NON_UNIFORM_DIM2(channel_width_idx, batch_height_idx);

    const int channel_block = channel_width_idx / width;
    const int w = channel_width_idx - channel_block * width;

    FLOAT values[4];
    for (int i = 0; i < 4; ++i) {
        const int c = (channel_block << 2) + i;
        FLOAT value = (FLOAT)(0.0f);
        if (c < channels0) {
            const FLOAT4 pixel = RI_F(input0, (int2)((c >> 2) * width + w, batch_height_idx));
            value = LANE(pixel, c & 3);
        } else if (c < channels0 + channels1) {
            const int c1 = c - channels0;
            const FLOAT4 pixel = RI_F(input1, (int2)((c1 >> 2) * width + w, batch_height_idx));
            value = LANE(pixel, c1 & 3);
        }
        values[i] = value;
    }
    WI_F(output, (int2)(channel_width_idx, batch_height_idx),
         (FLOAT4)(values[0], values[1], values[2], values[3]));
}
