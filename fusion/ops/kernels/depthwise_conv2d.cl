/*
 * depthwise_conv2d: KxK depthwise convolution (any stride, zero padding, dilation) on NC4HW4
 * images (layout: see conv2d_1x1.cl).
 *
 * filter: image, width = KH * KW, height = ceil(C/4); pixel (kh * KW + kw, cb) holds
 *         weight[4cb .. 4cb+3][kh][kw].
 * bias:   image (-DBIAS only), width = ceil(C/4), height = 1.
 *
 * Work-item (cb * out_width_blocks + wb, n * out_height + oh) computes output pixels
 * w = 4wb .. 4wb+3 of channel block cb. Padding is read as the sampler's border colour (zero):
 * out-of-range coordinates are replaced by -1.
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

__kernel void depthwise_conv2d(GLOBAL_SIZE_2_DIMS
                               __read_only image2d_t input,
                               __read_only image2d_t filter,
#ifdef BIAS
                               __read_only image2d_t bias,
#endif
                               __write_only image2d_t output,
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

    const int channel_block = out_channel_width_idx / out_width_blocks;
    const int out_width_block = out_channel_width_idx - channel_block * out_width_blocks;
    const int batch = out_batch_height_idx / out_height;
    const int out_h = out_batch_height_idx - batch * out_height;

    const int out_w0 = out_width_block << 2;
    const int in_w_start0 = out_w0 * stride_width - pad_width;
    const int in_w_start1 = in_w_start0 + stride_width;
    const int in_w_start2 = in_w_start1 + stride_width;
    const int in_w_start3 = in_w_start2 + stride_width;
    const int in_h_start = out_h * stride_height - pad_height;
    const int in_x_base = channel_block * in_width;

#ifdef BIAS
    FLOAT4 out0 = RI_F(bias, (int2)(channel_block, 0));
#else
    FLOAT4 out0 = (FLOAT4)(0.0f);
#endif
    FLOAT4 out1 = out0;
    FLOAT4 out2 = out0;
    FLOAT4 out3 = out0;

    for (int kh = 0; kh < kernel_height; ++kh) {
        const int in_h = in_h_start + kh * dilation_height;
        const int in_y = select(batch * in_height + in_h, -1, in_h < 0 || in_h >= in_height);
        for (int kw = 0; kw < kernel_width; ++kw) {
            READ_INPUT(0);
            READ_INPUT(1);
            READ_INPUT(2);
            READ_INPUT(3);
            const FLOAT4 weight = RI_F(filter, (int2)(kh * kernel_width + kw, channel_block));
            out0 = mad(in0, weight, out0);
            out1 = mad(in1, weight, out1);
            out2 = mad(in2, weight, out2);
            out3 = mad(in3, weight, out3);
        }
    }

    out0 = ACTIVATE(out0);
    out1 = ACTIVATE(out1);
    out2 = ACTIVATE(out2);
    out3 = ACTIVATE(out3);

    const int out_x = channel_block * out_width + out_w0;
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
