/*
 * concat_channel: concatenation of two NC4HW4 images (layout: see conv2d_1x1.cl) of one batch,
 * height and width along the channel axis: output channels 0 .. C0-1 come from input0, channels
 * C0 .. C0+C1-1 from input1. C0 need not be a multiple of 4: an output block then takes lanes of
 * two neighbouring input blocks, put together with fixed swizzles (no dynamically indexed
 * vector lanes: Oclgrind 21.10 miscomputes `i == 0 ? v.x : i == 1 ? v.y : ...` with a run-time
 * i). Channels past C0 + C1 are written as 0.
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

/* Lanes r .. r+3 of the 8-lane vector (a, b), for r = 0 .. 3. */
FLOAT4 shift_lanes(const FLOAT4 a, const FLOAT4 b, const int r) {
    FLOAT4 result;
    if (r == 0) {
        result = a;
    } else if (r == 1) {
        result = (FLOAT4)(a.y, a.z, a.w, b.x);
    } else if (r == 2) {
        result = (FLOAT4)(a.z, a.w, b.x, b.y);
    } else {
        result = (FLOAT4)(a.w, b.x, b.y, b.z);
    }
    return result;
}

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
    const int c_begin = channel_block << 2;

    FLOAT4 result;
    if (c_begin + 4 <= channels0) {
        /* all four lanes from input0, same block */
        result = RI_F(input0, (int2)(channel_width_idx, batch_height_idx));
    } else if (c_begin >= channels0) {
        /* all from input1, starting at its channel c_begin - channels0 */
        const int start = c_begin - channels0;
        const int block = start >> 2;
        const int next_x = select((block + 1) * width + w, -1, ((block + 1) << 2) >= channels1);
        const FLOAT4 a = RI_F(input1, (int2)(block * width + w, batch_height_idx));
        const FLOAT4 b = RI_F(input1, (int2)(next_x, batch_height_idx));
        result = shift_lanes(a, b, start & 3);
    } else {
        /* the first channels0 - c_begin (1 .. 3) lanes from input0, the rest from input1 */
        const FLOAT4 a = RI_F(input0, (int2)(channel_width_idx, batch_height_idx));
        const FLOAT4 b = RI_F(input1, (int2)(w, batch_height_idx));
        const int from_input0 = channels0 - c_begin;
        if (from_input0 == 1) {
            result = (FLOAT4)(a.x, b.x, b.y, b.z);
        } else if (from_input0 == 2) {
            result = (FLOAT4)(a.x, a.y, b.x, b.y);
        } else {
            result = (FLOAT4)(a.x, a.y, a.z, b.x);
        }
    }
    const int4 channel = (int4)(c_begin) + (int4)(0, 1, 2, 3);
    result = select((FLOAT4)(0.0f), result, channel < (int4)(channels0 + channels1));
    WI_F(output, (int2)(channel_width_idx, batch_height_idx), result);
}
