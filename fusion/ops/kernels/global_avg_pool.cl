/*
 * global_avg_pool: mean over H x W of an NC4HW4 image (layout: see conv2d_1x1.cl); the output is
 * the NC4HW4 image of an (N, C, 1, 1) tensor: width = ceil(C/4), height = N.
 *
 * Work-item (cb, n) sums its channel block's H * W pixels in row-major order (a fixed order, so
 * the result is deterministic) and divides by H * W.
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

__kernel void global_avg_pool(GLOBAL_SIZE_2_DIMS
                              __read_only image2d_t input,
                              __write_only image2d_t output,
                              __private const int in_height,
                              __private const int in_width) {
    const int channel_block = get_global_id(0);
    const int batch = get_global_id(1);
    DEAL_NON_UNIFORM_DIM2(channel_block, batch);

    const int in_x_base = channel_block * in_width;
    const int in_y_base = batch * in_height;
    FLOAT4 sum = (FLOAT4)(0.0f);
    for (int h = 0; h < in_height; ++h) {
        for (int w = 0; w < in_width; ++w) {
            sum = sum + RI_F(input, (int2)(in_x_base + w, in_y_base + h));
        }
    }
    const FLOAT4 mean = sum / (FLOAT4)((FLOAT)(in_height * in_width));
    WI_F(output, (int2)(channel_block, batch), mean);
}
