/*
 * image_to_nchw_buffer: an NC4HW4 image (layout: see conv2d_1x1.cl) to an NCHW float buffer;
 * lanes past C in the last channel block are dropped.
 *
 * Work-item (cb * W + w, n * H + h) converts one pixel (up to 4 channels).
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

__kernel void image_to_nchw_buffer(GLOBAL_SIZE_2_DIMS
                                   __read_only image2d_t input,
                                   __global FLOAT *output,
                                   __private const int channels,
                                   __private const int height,
                                   __private const int width) {
    const int channel_width_idx = get_global_id(0);
    const int batch_height_idx = get_global_id(1);
    DEAL_NON_UNIFORM_DIM2(channel_width_idx, batch_height_idx);

    const int channel_block = channel_width_idx / width;
    const int w = channel_width_idx - channel_block * width;
    const int batch = batch_height_idx / height;
    const int h = batch_height_idx - batch * height;

    const int c = channel_block << 2;
    const int plane = height * width;
    const int offset = ((batch * channels + c) * height + h) * width + w;
    const int remain = channels - c;

    const FLOAT4 value = RI_F(input, (int2)(channel_width_idx, batch_height_idx));
    output[offset] = value.x;
    if (remain >= 2) {
        output[offset + plane] = value.y;
    }
    if (remain >= 3) {
        output[offset + 2 * plane] = value.z;
    }
    if (remain >= 4) {
        output[offset + 3 * plane] = value.w;
    }
}
