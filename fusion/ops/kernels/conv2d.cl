/*
 * conv2d: general KxK convolution (stride, zero padding, dilation) on NC4HW4 images (layout: see
 * conv2d_1x1.cl).
 *
 * weights: image, width = ceil(IC/4) * 4, height = ceil(OC/4) * KH * KW;
 *          pixel (4 * icb + k, (ocb * KH + kh) * KW + kw) holds
 *          weight[4 * ocb + 0 .. 3][4 * icb + k][kh][kw].
 * bias:    image (-DBIAS only), width = ceil(OC/4), height = 1.
 *
 * Work-item (ocb * out_width_blocks + wb, n * out_height + oh) computes output pixels
 * w = 4wb .. 4wb+3 of output channel block ocb.
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

#define READ_INPUT(i)                                                                        \
    const int in_w##i = in_w_start##i + kw * dilation_width;                                 \
    const FLOAT4 in##i = RI_F(input, (int2)(select(in_x_base + in_w##i, -1,                  \
                                                   in_w##i < 0 || in_w##i >= in_width), in_y));

#define ACCUMULATE(acc, value)                            \
    acc = mad((FLOAT4)((value).x), weights0, acc);       \
    acc = mad((FLOAT4)((value).y), weights1, acc);       \
    acc = mad((FLOAT4)((value).z), weights2, acc);       \
    acc = mad((FLOAT4)((value).w), weights3, acc);

__kernel void conv2d(GLOBAL_SIZE_2_DIMS
                     __read_only image2d_t input,
                     __read_only image2d_t weights,
#ifdef BIAS
                     __read_only image2d_t bias,
#endif
                     __write_only image2d_t output,
                     __private const int in_channel_blocks,
                     __private const int in_height,
                     __private const int in_width,
                     __private const int out_height,
                     __private const int out_width,
                     __private const int kernel_height,
                     __private const int kernel_width,
                     __private const int stride_height,
                     __private const int stride_width,
                     __private const int pad_height,
                     __private const int pad_width,
                     __private const int dilation_height,
                     __private const int dilation_width,
                     __private const int out_width_blocks) {
    const int out_channel_width_idx = get_global_id(0);
    const int out_batch_height_idx = get_global_id(1);
    DEAL_NON_UNIFORM_DIM2(out_channel_width_idx, out_batch_height_idx);

    const int out_channel_block = out_channel_width_idx / out_width_blocks;
    const int out_width_block = out_channel_width_idx - out_channel_block * out_width_blocks;
    const int batch = out_batch_height_idx / out_height;
    const int out_h = out_batch_height_idx - batch * out_height;

    const int out_w0 = out_width_block << 2;
    const int in_w_start0 = out_w0 * stride_width - pad_width;
    const int in_w_start1 = in_w_start0 + stride_width;
    const int in_w_start2 = in_w_start1 + stride_width;
    const int in_w_start3 = in_w_start2 + stride_width;
    const int in_h_start = out_h * stride_height - pad_height;

#ifdef BIAS
    FLOAT4 out0 = RI_F(bias, (int2)(out_channel_block, 0));
#else
    FLOAT4 out0 = (FLOAT4)(0.0f);
#endif
    FLOAT4 out1 = out0;
    FLOAT4 out2 = out0;
    FLOAT4 out3 = out0;

    const int kernel_size = kernel_height * kernel_width;
    for (int in_channel_block = 0; in_channel_block < in_channel_blocks; ++in_channel_block) {
        const int in_x_base = in_channel_block * in_width;
        const int weights_x = in_channel_block << 2;
        for (int kh = 0; kh < kernel_height; ++kh) {
            const int in_h = in_h_start + kh * dilation_height;
            const int in_y = select(batch * in_height + in_h, -1, in_h < 0 || in_h >= in_height);
            for (int kw = 0; kw < kernel_width; ++kw) {
                READ_INPUT(0);
                READ_INPUT(1);
                READ_INPUT(2);
                READ_INPUT(3);
                const int weights_y = out_channel_block * kernel_size + kh * kernel_width + kw;
                const FLOAT4 weights0 = RI_F(weights, (int2)(weights_x + 0, weights_y));
                const FLOAT4 weights1 = RI_F(weights, (int2)(weights_x + 1, weights_y));
                const FLOAT4 weights2 = RI_F(weights, (int2)(weights_x + 2, weights_y));
                const FLOAT4 weights3 = RI_F(weights, (int2)(weights_x + 3, weights_y));
                ACCUMULATE(out0, in0);
                ACCUMULATE(out1, in1);
                ACCUMULATE(out2, in2);
                ACCUMULATE(out3, in3);
            }
        }
    }

    out0 = ACTIVATE(out0);
    out1 = ACTIVATE(out1);
    out2 = ACTIVATE(out2);
    out3 = ACTIVATE(out3);

    const int out_x = out_channel_block * out_width + out_w0;
    const int remain = out_width - out_w0;
    WI_F(output, (int2)(out_x, out_batch_height_idx), out0);
    if (remain >= 2) {
        WI_F(output, (int2)(out_x + 1, out_batch_height_idx), out1);
    }
    if (remain >= 3) {
        WI_F(output, (int2)(out_x + 2, out_batch_height_idx), out2);
    }
    if (remain >= 4) {
        WI_F(output, (int2)(out_x + 3, out_batch_height_idx), out3);
    }
}
