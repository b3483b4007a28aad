/*
 * softmax_channel: softmax over the channel axis of an NC4HW4 image (layout: see conv2d_1x1.cl),
 * for every (n, h, w).
 *
 * One work-group of LOCAL_SIZE work-items handles one (w, n * h) position: global size
 * (LOCAL_SIZE, W, N * H), local size (LOCAL_SIZE, 1, 1) -- the kernel requires exactly that
 * work-group size. Work-item l visits channel blocks l, l + LOCAL_SIZE, ... and the partial
 * results are combined in __local memory by a tree reduction (fixed order: deterministic), with
 * barrier(CLK_LOCAL_MEM_FENCE) between the steps. First the maximum, then the sum of
 * exp(x - max), then each output is exp(x - max) / sum. Channels past C are written as 0.
 * The early return of DEAL_NON_UNIFORM_DIM3 is uniform over a work-group (local size 1 in
 * dimensions 1 and 2; the host launches exactly LOCAL_SIZE in dimension 0).
 *
 * Options: -DLOCAL_SIZE=n (a power of two, default 32).
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

#ifndef LOCAL_SIZE
#define LOCAL_SIZE 32
#endif

#if (LOCAL_SIZE < 1) || ((LOCAL_SIZE & (LOCAL_SIZE - 1)) != 0)
#error "LOCAL_SIZE must be a power of two"
#endif

__kernel __attribute__((reqd_work_group_size(LOCAL_SIZE, 1, 1)))
void softmax_channel(GLOBAL_SIZE_3_DIMS
                     __read_only image2d_t input,
                     __write_only image2d_t output,
                     __private const int channels,
                     __private const int channel_blocks,
                     __private const int width) {
    __local FLOAT scratch[LOCAL_SIZE];
    const int local_idx = get_local_id(0);
    const int width_idx = get_global_id(1);
    const int batch_height_idx = get_global_id(2);
    DEAL_NON_UNIFORM_DIM3(get_global_id(0), width_idx, batch_height_idx);

    const int4 lanes = (int4)(0, 1, 2, 3);
    const int4 channel_count = (int4)(channels);

    /* 1. maximum over the channels */
    FLOAT4 partial_max = (FLOAT4)(-FLT_MAX);
    for (int cb = local_idx; cb < channel_blocks; cb += LOCAL_SIZE) {
        const FLOAT4 value = RI_F(input, (int2)(cb * width + width_idx, batch_height_idx));
        const int4 valid = (lanes + (int4)(cb << 2)) < channel_count;
        partial_max = fmax(partial_max, select((FLOAT4)(-FLT_MAX), value, valid));
    }
    scratch[local_idx] = fmax(fmax(partial_max.x, partial_max.y), fmax(partial_max.z, partial_max.w));
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = LOCAL_SIZE >> 1; stride > 0; stride >>= 1) {
        if (local_idx < stride) {
            scratch[local_idx] = fmax(scratch[local_idx], scratch[local_idx + stride]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const FLOAT max_value = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);

    /* 2. sum of exp(x - max) */
    FLOAT4 partial_sum = (FLOAT4)(0.0f);
    for (int cb = local_idx; cb < channel_blocks; cb += LOCAL_SIZE) {
        const FLOAT4 value = RI_F(input, (int2)(cb * width + width_idx, batch_height_idx));
        const int4 valid = (lanes + (int4)(cb << 2)) < channel_count;
        partial_sum += select((FLOAT4)(0.0f), exp(value - (FLOAT4)(max_value)), valid);
    }
    /* dot() rather than (x + y) + (z + w): the latter crashes Oclgrind 21.10's --uninitialized
       plugin (a memcpy in Uninitialized::instructionExecuted) when x..w come from a loop. */
    scratch[local_idx] = dot(partial_sum, (FLOAT4)(1.0f));
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = LOCAL_SIZE >> 1; stride > 0; stride >>= 1) {
        if (local_idx < stride) {
            scratch[local_idx] = scratch[local_idx] + scratch[local_idx + stride];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const FLOAT sum = scratch[0];

    /* 3. normalise */
    for (int cb = local_idx; cb < channel_blocks; cb += LOCAL_SIZE) {
        const int2 coord = (int2)(cb * width + width_idx, batch_height_idx);
        const FLOAT4 value = RI_F(input, coord);
        const int4 valid = (lanes + (int4)(cb << 2)) < channel_count;
        const FLOAT4 result = exp(value - (FLOAT4)(max_value)) / (FLOAT4)(sum);
        WI_F(output, coord, select((FLOAT4)(0.0f), result, valid));
    }
}
