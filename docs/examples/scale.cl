/* An example kernel for docs/TESTING.md: out = in * SCALE + 1 on the first n elements,
 * MNN style: the launch may be padded past n, and those work-items return at once. */
#ifndef SCALE
#define SCALE 2.0f
#endif

float act(float x)
{
#ifdef RELU
    return fmax(x, 0.0f);
#else
    return x;
#endif
}

__kernel void scale(__global const float *in, __global float *out, const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    out[i] = act(in[i] * SCALE + 1.0f);
}

/* A row sum through __local memory: one work-group of 16 per row. */
__kernel void row_sum(__global const float *in, __global float *out, const int width)
{
    __local float partial[16];
    const int row = get_group_id(0), l = get_local_id(0);
    float sum = 0.0f;
    for (int x = l; x < width; x += 16)
        sum += in[row * width + x];
    partial[l] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = 8; stride > 0; stride /= 2) {
        if (l < stride) partial[l] += partial[l + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) out[row] = partial[0];
}
