/*
 * fully_connected: output[n][o] = bias[o] + sum_i weight[o][i] * input[n][i], with the input and
 * output as NC4HW4 images of (N, C, 1, 1) tensors: width = ceil(C/4), height = N.
 *
 * weights: buffer of ceil(OC/4) * ceil(IC/4) * 16 floats; the float4 at index
 *          (ocb * ceil(IC/4) + icb) * 4 + k holds weight[4 * ocb + 0 .. 3][4 * icb + k]
 *          (zero where a channel does not exist).
 * bias:    buffer of ceil(OC/4) * 4 floats (-DBIAS only).
 *
 * Work-item (ocb, n) computes one output pixel (4 output channels).
 * Options: -DBIAS, -DRELU or -DRELU6.
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

__kernel void fully_connected(GLOBAL_SIZE_2_DIMS
                              __read_only image2d_t input,
                              __global const FLOAT *weights,
#ifdef BIAS
                              __global const FLOAT *bias,
#endif
                              __write_only image2d_t output,
                              __private const int in_channel_blocks) {
    const int out_channel_block = get_global_id(0);
    const int batch = get_global_id(1);
    DEAL_NON_UNIFORM_DIM2(out_channel_block, batch);

#ifdef BIAS
    FLOAT4 result = vload4(out_channel_block, bias);
#else
    FLOAT4 result = (FLOAT4)(0.0f);
#endif
    const int weights_base = out_channel_block * in_channel_blocks * 4;
    for (int in_channel_block = 0; in_channel_block < in_channel_blocks; ++in_channel_block) {
        const FLOAT4 value = RI_F(input, (int2)(in_channel_block, batch));
        const int offset = weights_base + (in_channel_block << 2);
        result = mad((FLOAT4)(value.x), vload4(offset + 0, weights), result);
        result = mad((FLOAT4)(value.y), vload4(offset + 1, weights), result);
        result = mad((FLOAT4)(value.z), vload4(offset + 2, weights), result);
        result = mad((FLOAT4)(value.w), vload4(offset + 3, weights), result);
    }
    result = ACTIVATE(result);
    WI_F(output, (int2)(out_channel_block, batch), result);
}
