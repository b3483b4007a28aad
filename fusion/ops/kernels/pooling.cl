/*
 * pooling: KxK max pooling (default) or average pooling (-DPOOL_AVG) with stride and padding, on
 * NC4HW4 images (layout: see conv2d_1x1.cl). Average pooling divides by the number of input
 * pixels inside the window (padding is not counted). The host guarantees pad < kernel, so every
 * window holds at least one input pixel.
 *
 * Work-item (cb * out_width + ow, n * out_height + oh) computes one output pixel (4 channels).
 * Options: -DPOOL_AVG.
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

__kernel void pooling(GLOBAL_SIZE_2_DIMS
                      __read_only image2d_t input,
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
                      __private const int pad_width) {
    const int out_channel_width_idx = get_global_id(0);
    const int out_batch_height_idx = get_global_id(1);
    DEAL_NON_UNIFORM_DIM2(out_channel_width_idx, out_batch_height_idx);

    const int channel_block = out_channel_width_idx / out_width;
    const int out_w = out_channel_width_idx - channel_block * out_width;
    const int batch = out_batch_height_idx / out_height;
    const int out_h = out_batch_height_idx - batch * out_height;

    const int h_begin = out_h * stride_height - pad_height;
    const int w_begin = out_w * stride_width - pad_width;
    const int h_start = max(h_begin, 0);
    const int w_start = max(w_begin, 0);
    const int h_end = min(h_begin + kernel_height, in_height);
    const int w_end = min(w_begin + kernel_width, in_width);
    const int in_x_base = channel_block * in_width;
    const int in_y_base = batch * in_height;

#ifdef POOL_AVG
    FLOAT4 result = (FLOAT4)(0.0f);
#else
    FLOAT4 result = (FLOAT4)(-FLT_MAX);
#endif
    for (int h = h_start; h < h_end; ++h) {
        const int in_y = in_y_base + h;
        for (int w = w_start; w < w_end; ++w) {
            const FLOAT4 value = RI_F(input, (int2)(in_x_base + w, in_y));
#ifdef POOL_AVG
            result = result + value;
#else
            result = fmax(result, value);
#endif
        }
    }
#ifdef POOL_AVG
    const int count = (h_end - h_start) * (w_end - w_start);
    result = result / (FLOAT4)((FLOAT)count);
#endif
    WI_F(output, (int2)(out_channel_width_idx, out_batch_height_idx), result);
}
