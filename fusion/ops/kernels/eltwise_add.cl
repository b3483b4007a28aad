/*
 * eltwise_add: output = input0 + input1 on two NC4HW4 images of one shape (layout: see
 * conv2d_1x1.cl), with an optional fused activation.
 *
 * Work-item (cb * W + w, n * H + h) computes one pixel.
 * Options: -DRELU or -DRELU6.
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

__kernel void eltwise_add(GLOBAL_SIZE_2_DIMS
                          __read_only image2d_t input0,
                          __read_only image2d_t input1,
                          __write_only image2d_t output) {
    const int channel_width_idx = get_global_id(0);
    const int batch_height_idx = get_global_id(1);
    DEAL_NON_UNIFORM_DIM2(channel_width_idx, batch_height_idx);

    const int2 coord = (int2)(channel_width_idx, batch_height_idx);
    const FLOAT4 a = RI_F(input0, coord);
    const FLOAT4 b = RI_F(input1, coord);
    const FLOAT4 result = ACTIVATE(a + b);
    WI_F(output, coord, result);
}
