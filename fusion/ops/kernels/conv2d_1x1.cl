/*
 * conv2d_1x1: 1x1 convolution (optionally strided) on NC4HW4 images.
 *
 * Tensors are image2d_t in NC4HW4 layout: width = ceil(C/4) * W, height = N * H, and pixel
 * (cb * W + w, n * H + h) holds channels 4cb .. 4cb+3 of (n, h, w). Channels past C are zero.
 *
 * weights: image, width = ceil(IC/4) * 4, height = ceil(OC/4); pixel (4 * icb + k, ocb) holds
 *          weight[4 * ocb + 0 .. 3][4 * icb + k] (zero where a channel does not exist).
 * bias:    image (-DBIAS only), width = ceil(OC/4), height = 1.
 *
 * Work-item (ocb * out_width_blocks + wb, n * out_height + oh) computes output pixels
 * w = 4wb .. 4wb+3 of output channel block ocb.
 * Options: -DBIAS, -DRELU or -DRELU6, -DFLOAT=... / -DFLOAT4=... (FP32 only: float/float4).
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

#define ACCUMULATE(acc, value)                            \
    acc = mad((FLOAT4)((value).x), weights0, acc);       \
    acc = mad((FLOAT4)((value).y), weights1, acc);       \
    acc = mad((FLOAT4)((value).z), weights2, acc);       \
    acc = mad((FLOAT4)((value).w), weights3, acc);

__kernel void conv2d_1x1(GLOBAL_SIZE_2_DIMS
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
                         __private const int stride_height,
                         __private const int stride_width,
                         __private const int out_width_blocks) {
    const int out_channel_width_idx = get_global_id(0);
    const int out_batch_height_idx = get_global_id(1);
    DEAL_NON_UNIFORM_DIM2(out_channel_width_idx, out_batch_height_idx);

    const int out_channel_block = out_channel_width_idx / out_width_blocks;
    const int out_width_block = out_channel_width_idx - out_channel_block * out_width_blocks;
    const int batch = out_batch_height_idx / out_height;
    const int out_h = out_batch_height_idx - batch * out_height;
    const int in_y = batch * in_height + out_h * stride_height;

    const int out_w0 = out_width_block << 2;
    const int in_w0 = out_w0 * stride_width;
    const int in_w1 = in_w0 + stride_width;
    const int in_w2 = in_w1 + stride_width;
    const int in_w3 = in_w2 + stride_width;

#ifdef BIAS
    FLOAT4 out0 = RI_F(bias, (int2)(out_channel_block, 0));
#else
    FLOAT4 out0 = (FLOAT4)(0.0f);
#endif
    FLOAT4 out1 = out0;
    FLOAT4 out2 = out0;
    FLOAT4 out3 = out0;

    for (int in_channel_block = 0; in_channel_block < in_channel_blocks; ++in_channel_block) {
        const int in_x_base = in_channel_block * in_width;
        /* Columns past the input's width read the border colour (zero) instead of the next
           channel block; their results are not written anyway. */
        const FLOAT4 in0 = RI_F(input, (int2)(select(in_x_base + in_w0, -1, in_w0 >= in_width), in_y));
        const FLOAT4 in1 = RI_F(input, (int2)(select(in_x_base + in_w1, -1, in_w1 >= in_width), in_y));
        const FLOAT4 in2 = RI_F(input, (int2)(select(in_x_base + in_w2, -1, in_w2 >= in_width), in_y));
        const FLOAT4 in3 = RI_F(input, (int2)(select(in_x_base + in_w3, -1, in_w3 >= in_width), in_y));

        const int weights_x = in_channel_block << 2;
        const FLOAT4 weights0 = RI_F(weights, (int2)(weights_x + 0, out_channel_block));
        const FLOAT4 weights1 = RI_F(weights, (int2)(weights_x + 1, out_channel_block));
        const FLOAT4 weights2 = RI_F(weights, (int2)(weights_x + 2, out_channel_block));
        const FLOAT4 weights3 = RI_F(weights, (int2)(weights_x + 3, out_channel_block));

        ACCUMULATE(out0, in0);
        ACCUMULATE(out1, in1);
        ACCUMULATE(out2, in2);
        ACCUMULATE(out3, in3);
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
