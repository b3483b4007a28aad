/*
 * resize_bilinear: bilinear resize of an NC4HW4 image (layout: see conv2d_1x1.cl) with half-pixel
 * centres (align_corners = false, as PyTorch / TensorFlow 2): the source coordinate of output row
 * oh is max((oh + 0.5) * scale_height - 0.5, 0), scale_height = in_height / out_height; likewise
 * for columns; the right/bottom neighbour is clamped to the last row/column.
 *
 * Work-item (cb * out_width + ow, n * out_height + oh) computes one output pixel.
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

__kernel void resize_bilinear(GLOBAL_SIZE_2_DIMS
                              __read_only image2d_t input,
                              __write_only image2d_t output,
                              __private const float scale_height,
                              __private const float scale_width,
                              __private const int in_height,
                              __private const int in_width,
                              __private const int out_height,
                              __private const int out_width) {
    const int out_channel_width_idx = get_global_id(0);
    const int out_batch_height_idx = get_global_id(1);
    DEAL_NON_UNIFORM_DIM2(out_channel_width_idx, out_batch_height_idx);

    const int channel_block = out_channel_width_idx / out_width;
    const int out_w = out_channel_width_idx - channel_block * out_width;
    const int batch = out_batch_height_idx / out_height;
    const int out_h = out_batch_height_idx - batch * out_height;

    const float src_h = fmax(((float)out_h + 0.5f) * scale_height - 0.5f, 0.0f);
    const float src_w = fmax(((float)out_w + 0.5f) * scale_width - 0.5f, 0.0f);
    const int h0 = min((int)src_h, in_height - 1);
    const int w0 = min((int)src_w, in_width - 1);
    const int h1 = min(h0 + 1, in_height - 1);
    const int w1 = min(w0 + 1, in_width - 1);
    const FLOAT lambda_h = (FLOAT)(src_h - (float)h0);
    const FLOAT lambda_w = (FLOAT)(src_w - (float)w0);

    const int x_base = channel_block * in_width;
    const int y_base = batch * in_height;
    const FLOAT4 top_left = RI_F(input, (int2)(x_base + w0, y_base + h0));
    const FLOAT4 top_right = RI_F(input, (int2)(x_base + w1, y_base + h0));
    const FLOAT4 bottom_left = RI_F(input, (int2)(x_base + w0, y_base + h1));
    const FLOAT4 bottom_right = RI_F(input, (int2)(x_base + w1, y_base + h1));

    const FLOAT4 top = top_left * (FLOAT4)(1.0f - lambda_w) + top_right * (FLOAT4)(lambda_w);
    const FLOAT4 bottom = bottom_left * (FLOAT4)(1.0f - lambda_w) + bottom_right * (FLOAT4)(lambda_w);
    const FLOAT4 result = top * (FLOAT4)(1.0f - lambda_h) + bottom * (FLOAT4)(lambda_h);
    WI_F(output, (int2)(out_channel_width_idx, out_batch_height_idx), result);
}
