// 2-D pooling on the GPU: the CUDA twins of the array kernels in minidl/ops/pool.py.
//
// Compiled by minidl/backend/cuda/__init__.py (CuPy RawModule, NVRTC) once per
// (dtype, tap-code type) with -Dscalar_t=float|double and -Dcode_t=uint8|int (max-pool's
// argmax tap code i*kw + j is a uint8 for up to 254 taps, else an int, as in the reference).
// One thread per OUTPUT element gathering its inputs (deterministic, no atomics); the
// backward kernels are gathers too: one thread per input cell visits the windows that
// contain it. 64-bit index math (i64) and grid-stride loops throughout, as in im2col.cu.
// minidl/backend/cuda/mirror.py repeats each kernel line by line in numpy.

typedef long long i64;
typedef unsigned char uint8;

__device__ __forceinline__ float neg_inf(float) { return __int_as_float((int)0xff800000u); }
__device__ __forceinline__ double neg_inf(double) { return __longlong_as_double((i64)0xfff0000000000000ull); }

// Window (oy, ox) of plane (n, c): taps (i, j) in scan order read input cell
// (oy*sh - ph + i*dh, ox*sw - pw + j*dw) when it lies inside the input (padding is -inf).
// out = the maximum; code = its tap i*kw + j: the first maximum (strict >), the last NaN
// (a NaN always wins, NaN != NaN detects it). A window with no input cell gets -inf and
// code kh*kw ("no tap"); a window whose cells are all -inf keeps its first input tap.
extern "C" __global__ void max_pool2d_forward(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ out, code_t* __restrict__ code,
    i64 N, i64 C, i64 H, i64 W, i64 oh, i64 ow,
    i64 kh, i64 kw, i64 sh, i64 sw, i64 ph, i64 pw, i64 dh, i64 dw)
{
    const i64 total = N * C * oh * ow;
    for (i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x; tid < total; tid += (i64)gridDim.x * blockDim.x) {
        const i64 ox = tid % ow, oy = (tid / ow) % oh, plane = tid / (ow * oh);  // plane = n*C + c
        const scalar_t* xp = x + plane * H * W;
        scalar_t best = neg_inf((scalar_t)0);  // the argument only picks the overload
        i64 arg = kh * kw;
        for (i64 i = 0; i < kh; ++i) {
            const i64 h = oy * sh - ph + i * dh;
            if (h < 0 || h >= H) continue;
            for (i64 j = 0; j < kw; ++j) {
                const i64 w = ox * sw - pw + j * dw;
                if (w < 0 || w >= W) continue;
                const scalar_t v = xp[h * W + w];
                if (arg == kh * kw || v > best || v != v) {  // the first input tap, a larger value, or a NaN
                    best = v;
                    arg = i * kw + j;
                }
            }
        }
        out[tid] = best;
        code[tid] = (code_t)arg;
    }
}

// gx (N, C, H, W): one thread per input cell (n, c, h, w) adds the gradient of every window
// whose argmax code names this cell. Tap (i, j) of window (oy, ox) is this cell when
// oy*sh = h + ph - i*dh (>= 0, divisible, oy < oh) and likewise for ox; taps in the
// reference's order, so the float sum is the reference's.
extern "C" __global__ void max_pool2d_backward(
    const scalar_t* __restrict__ g, const code_t* __restrict__ code, scalar_t* __restrict__ gx,
    i64 N, i64 C, i64 H, i64 W, i64 oh, i64 ow,
    i64 kh, i64 kw, i64 sh, i64 sw, i64 ph, i64 pw, i64 dh, i64 dw)
{
    const i64 total = N * C * H * W;
    for (i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x; tid < total; tid += (i64)gridDim.x * blockDim.x) {
        const i64 w = tid % W, h = (tid / W) % H, plane = tid / (W * H);
        const i64 base = plane * oh * ow;  // plane's first output
        scalar_t sum = 0;
        for (i64 i = 0; i < kh; ++i) {
            const i64 ty = h + ph - i * dh;
            if (ty < 0 || ty % sh != 0 || ty / sh >= oh) continue;
            const i64 oy = ty / sh;
            for (i64 j = 0; j < kw; ++j) {
                const i64 tx = w + pw - j * dw;
                if (tx < 0 || tx % sw != 0 || tx / sw >= ow) continue;
                const i64 ox = tx / sw;
                if ((i64)code[base + oy * ow + ox] == i * kw + j) sum += g[base + oy * ow + ox];
            }
        }
        gx[tid] = sum;
    }
}

// out = (sum of the window's input cells) / divisor[oy, ox]; padding adds nothing, and the
// divisor (oh, ow) already says whether it counts (count_include_pad, divisor_override).
extern "C" __global__ void avg_pool2d_forward(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ divisor, scalar_t* __restrict__ out,
    i64 N, i64 C, i64 H, i64 W, i64 oh, i64 ow,
    i64 kh, i64 kw, i64 sh, i64 sw, i64 ph, i64 pw)
{
    const i64 total = N * C * oh * ow;
    for (i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x; tid < total; tid += (i64)gridDim.x * blockDim.x) {
        const i64 ox = tid % ow, oy = (tid / ow) % oh, plane = tid / (ow * oh);
        const scalar_t* xp = x + plane * H * W;
        scalar_t sum = 0;
        for (i64 i = 0; i < kh; ++i) {
            const i64 h = oy * sh - ph + i;
            if (h < 0 || h >= H) continue;
            for (i64 j = 0; j < kw; ++j) {
                const i64 w = ox * sw - pw + j;
                if (w < 0 || w >= W) continue;
                sum += xp[h * W + w];
            }
        }
        out[tid] = sum / divisor[oy * ow + ox];
    }
}

// gx: one thread per input cell adds g / divisor of every window containing it (the
// windows found as in max_pool2d_backward, with dilation 1).
extern "C" __global__ void avg_pool2d_backward(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ divisor, scalar_t* __restrict__ gx,
    i64 N, i64 C, i64 H, i64 W, i64 oh, i64 ow,
    i64 kh, i64 kw, i64 sh, i64 sw, i64 ph, i64 pw)
{
    const i64 total = N * C * H * W;
    for (i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x; tid < total; tid += (i64)gridDim.x * blockDim.x) {
        const i64 w = tid % W, h = (tid / W) % H, plane = tid / (W * H);
        const i64 base = plane * oh * ow;
        scalar_t sum = 0;
        for (i64 i = 0; i < kh; ++i) {
            const i64 ty = h + ph - i;
            if (ty < 0 || ty % sh != 0 || ty / sh >= oh) continue;
            const i64 oy = ty / sh;
            for (i64 j = 0; j < kw; ++j) {
                const i64 tx = w + pw - j;
                if (tx < 0 || tx % sw != 0 || tx / sw >= ow) continue;
                const i64 ox = tx / sw;
                sum += g[base + oy * ow + ox] / divisor[oy * ow + ox];
            }
        }
        gx[tid] = sum;
    }
}

// Adaptive bins: output o of n_out along an input dim of n covers
//     [start, end) = [floor(o*n/n_out), ceil((o+1)*n/n_out)),
// and, inverted, input position p lies in the bins o of
//     [floor(p*n_out/n), ceil((p+1)*n_out/n))
// (start <= p  <=>  o < (p+1)*n_out/n;  p < end  <=>  o >= floor(p*n_out/n)).
__device__ __forceinline__ i64 floor_div(i64 a, i64 b) { return a / b; }  // a, b >= 0 here
__device__ __forceinline__ i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

// out = the mean of each bin: its cells summed in scan order, divided by the bin's size.
extern "C" __global__ void adaptive_avg_pool2d_forward(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ out,
    i64 N, i64 C, i64 H, i64 W, i64 oh, i64 ow)
{
    const i64 total = N * C * oh * ow;
    for (i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x; tid < total; tid += (i64)gridDim.x * blockDim.x) {
        const i64 ox = tid % ow, oy = (tid / ow) % oh, plane = tid / (ow * oh);
        const i64 h0 = floor_div(oy * H, oh), h1 = ceil_div((oy + 1) * H, oh);
        const i64 w0 = floor_div(ox * W, ow), w1 = ceil_div((ox + 1) * W, ow);
        const scalar_t* xp = x + plane * H * W;
        scalar_t sum = 0;
        for (i64 h = h0; h < h1; ++h)
            for (i64 w = w0; w < w1; ++w) sum += xp[h * W + w];
        out[tid] = sum / (scalar_t)((h1 - h0) * (w1 - w0));
    }
}

// gx: one thread per input cell adds g / bin size of every bin containing it (bins row by
// row, each row's bins left to right, summed per row first: the reference's order).
extern "C" __global__ void adaptive_avg_pool2d_backward(
    const scalar_t* __restrict__ g, scalar_t* __restrict__ gx,
    i64 N, i64 C, i64 H, i64 W, i64 oh, i64 ow)
{
    const i64 total = N * C * H * W;
    for (i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x; tid < total; tid += (i64)gridDim.x * blockDim.x) {
        const i64 w = tid % W, h = (tid / W) % H, plane = tid / (W * H);
        const scalar_t* gp = g + plane * oh * ow;
        scalar_t sum = 0;
        for (i64 oy = floor_div(h * oh, H); oy < ceil_div((h + 1) * oh, H); ++oy) {
            const i64 rows = ceil_div((oy + 1) * H, oh) - floor_div(oy * H, oh);
            scalar_t row_sum = 0;
            for (i64 ox = floor_div(w * ow, W); ox < ceil_div((w + 1) * ow, W); ++ox) {
                const i64 cols = ceil_div((ox + 1) * W, ow) - floor_div(ox * W, ow);
                row_sum += gp[oy * ow + ox] / (scalar_t)(rows * cols);
            }
            sum += row_sum;
        }
        gx[tid] = sum;
    }
}

// out = the maximum of each bin, index = its flat position h*W + w in the plane: the first
// maximum in scan order, or the last NaN (as torch and the reference).
extern "C" __global__ void adaptive_max_pool2d_forward(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ out, i64* __restrict__ index,
    i64 N, i64 C, i64 H, i64 W, i64 oh, i64 ow)
{
    const i64 total = N * C * oh * ow;
    for (i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x; tid < total; tid += (i64)gridDim.x * blockDim.x) {
        const i64 ox = tid % ow, oy = (tid / ow) % oh, plane = tid / (ow * oh);
        const i64 h0 = floor_div(oy * H, oh), h1 = ceil_div((oy + 1) * H, oh);
        const i64 w0 = floor_div(ox * W, ow), w1 = ceil_div((ox + 1) * W, ow);
        const scalar_t* xp = x + plane * H * W;
        i64 arg = h0 * W + w0;  // bins are never empty
        scalar_t best = xp[arg];
        for (i64 h = h0; h < h1; ++h) {
            for (i64 w = w0; w < w1; ++w) {
                const scalar_t v = xp[h * W + w];
                if (v > best || v != v) {  // larger, or a NaN (the last NaN wins, as in torch)
                    best = v;
                    arg = h * W + w;
                }
            }
        }
        out[tid] = best;
        index[tid] = arg;
    }
}

// gx: one thread per input cell adds g of every bin containing it whose index names this
// cell (bins in row-major order, the order in which the reference adds them).
extern "C" __global__ void adaptive_max_pool2d_backward(
    const scalar_t* __restrict__ g, const i64* __restrict__ index, scalar_t* __restrict__ gx,
    i64 N, i64 C, i64 H, i64 W, i64 oh, i64 ow)
{
    const i64 total = N * C * H * W;
    for (i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x; tid < total; tid += (i64)gridDim.x * blockDim.x) {
        const i64 w = tid % W, h = (tid / W) % H, plane = tid / (W * H);
        const i64 base = plane * oh * ow;
        scalar_t sum = 0;
        for (i64 oy = floor_div(h * oh, H); oy < ceil_div((h + 1) * oh, H); ++oy)
            for (i64 ox = floor_div(w * ow, W); ox < ceil_div((w + 1) * ow, W); ++ox)
                if (index[base + oy * ow + ox] == h * W + w) sum += g[base + oy * ow + ox];
        gx[tid] = sum;
    }
}
