// im2col / col2im on the GPU: the CUDA twins of minidl/backend/im2col.py.
//
// Compiled by minidl/backend/cuda/__init__.py (CuPy RawModule, NVRTC) once per dtype with
// -Dscalar_t=float or -Dscalar_t=double. Every kernel gives ONE thread to each OUTPUT
// element, which gathers its inputs: no two threads write the same cell, so there are no
// atomics and the result is the same on every run (and equal to the numpy reference, which
// adds in the same order). All index math is in 64-bit (i64): N*C*H*W or C*kh*kw*N*oh*ow
// passes 2^31 for large batches, and a 32-bit int would silently wrap. Grid-stride loops:
// any grid size covers any total.
//
// minidl/backend/cuda/mirror.py repeats each kernel line by line in numpy (same names, same
// order of index decomposition); the tests check that mirror against the numpy reference.

typedef long long i64;

// columns (C*kh*kw, N*oh*ow): row (c*kh + i)*kw + j is tap (i, j) of channel c, column
// (n*oh + oy)*ow + ox is window (oy, ox) of sample n. Tap (i, j) of window (oy, ox) reads
// input row oy*sh - top + i*dh and column ox*sw - left + j*dw; outside the input it reads 0
// (the padding).
extern "C" __global__ void im2col(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ cols,
    i64 N, i64 C, i64 H, i64 W,
    i64 kh, i64 kw, i64 sh, i64 sw, i64 top, i64 left, i64 dh, i64 dw,
    i64 oh, i64 ow)
{
    const i64 L = N * oh * ow;  // number of columns (windows)
    const i64 total = C * kh * kw * L;
    for (i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x; tid < total; tid += (i64)gridDim.x * blockDim.x) {
        const i64 row = tid / L, col = tid % L;
        const i64 j = row % kw, i = (row / kw) % kh, c = row / (kw * kh);
        const i64 ox = col % ow, oy = (col / ow) % oh, n = col / (ow * oh);
        const i64 h = oy * sh - top + i * dh;
        const i64 w = ox * sw - left + j * dw;
        const bool inside = 0 <= h && h < H && 0 <= w && w < W;
        cols[tid] = inside ? x[((n * C + c) * H + h) * W + w] : (scalar_t)0;
    }
}

// The adjoint: one thread per input pixel (n, c, h, w) sums the column entries of every
// window that covers it. Tap (i, j) of window (oy, ox) covers it when
//     oy*sh - top + i*dh == h,  i.e.  (h + top - i*dh) is >= 0, divisible by sh, and oy < oh,
// and the same along w. Taps are visited in the reference's order (i, then j), so the
// float sum is the reference's bit for bit.
extern "C" __global__ void col2im(
    const scalar_t* __restrict__ cols, scalar_t* __restrict__ x,
    i64 N, i64 C, i64 H, i64 W,
    i64 kh, i64 kw, i64 sh, i64 sw, i64 top, i64 left, i64 dh, i64 dw,
    i64 oh, i64 ow)
{
    const i64 L = N * oh * ow;
    const i64 total = N * C * H * W;
    for (i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x; tid < total; tid += (i64)gridDim.x * blockDim.x) {
        const i64 w = tid % W, h = (tid / W) % H, c = (tid / (W * H)) % C, n = tid / (W * H * C);
        scalar_t sum = 0;
        for (i64 i = 0; i < kh; ++i) {
            const i64 ty = h + top - i * dh;  // = oy*sh for the window whose tap i lands on h
            if (ty < 0 || ty % sh != 0 || ty / sh >= oh) continue;
            const i64 oy = ty / sh;
            for (i64 j = 0; j < kw; ++j) {
                const i64 tx = w + left - j * dw;
                if (tx < 0 || tx % sw != 0 || tx / sw >= ow) continue;
                const i64 ox = tx / sw;
                sum += cols[((c * kh + i) * kw + j) * L + (n * oh + oy) * ow + ox];
            }
        }
        x[tid] = sum;
    }
}
