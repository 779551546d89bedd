using Caprese.Interop.Native;

namespace Caprese.Interop;

/// <summary>
/// A compute context on one backend (the CPU, or one CUDA device and stream). Ops are
/// enqueued on the context's stream; on CUDA they return before the work is done, and errors
/// found only on the device surface at <see cref="Synchronize"/>. A context is not meant to
/// be used from several threads at once.
/// </summary>
public sealed unsafe class CapreseContext : IDisposable
{
    private readonly ContextHandle _handle;

    private CapreseContext(ContextHandle handle, BackendKind backend)
    {
        _handle = handle;
        Backend = backend;
    }

    /// <summary>
    /// Creates a context. Asking for <see cref="BackendKind.Cuda"/> (or <see cref="BackendKind.CudaSim"/>)
    /// where it cannot be used throws <see cref="CapreseBackendUnavailableException"/> with the native
    /// reason: there is never a silent fallback to the CPU, nor from CUDA to the simulator.
    /// </summary>
    /// <param name="backend">The backend.</param>
    /// <param name="device">CUDA device ordinal (the simulator has only device 0; ignored by the CPU backend).</param>
    /// <param name="numThreads">CPU worker threads; 0 = one per hardware thread.</param>
    /// <param name="stream">CUDA: a caller-owned cudaStream_t to run on; 0 = the context's own stream.</param>
    public static CapreseContext Create(BackendKind backend, int device = 0, int numThreads = 0, nint stream = 0)
    {
        var options = new NativeContextOptions
        {
            Backend = (int)backend,
            Device = device,
            NumThreads = numThreads,
            Flags = 0,
            Stream = stream,
        };
        nint raw = 0;
        CapreseStatus status = NativeMethods.caprese_context_create(&options, &raw);
        var handle = new ContextHandle();
        handle.Set(raw); // owned even on the (never expected) failure-with-handle path
        if (status != CapreseStatus.Ok)
        {
            string message = NativeMethods.PtrToString(NativeMethods.caprese_last_error());
            handle.Dispose();
            throw CapreseException.Create(status, "caprese_context_create", message);
        }
        int actual;
        using (var lease = handle.Borrow())
            CapreseException.Check(NativeMethods.caprese_context_backend(lease.Value, &actual), "caprese_context_backend");
        if (actual != (int)backend)
        {
            handle.Dispose();
            throw new CapreseBackendUnavailableException("caprese_context_create",
                $"asked for the {backend} backend but the library created {(BackendKind)actual}; refusing to fall back");
        }
        return new CapreseContext(handle, backend);
    }

    /// <summary>The backend this context runs on.</summary>
    public BackendKind Backend { get; }

    /// <summary>The native handle (for advanced interop; owned by this context).</summary>
    public ContextHandle Handle => _handle;

    /// <summary>Whether <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed => _handle.IsClosed;

    /// <summary>
    /// The cudaStream_t ops run on. Set a caller-owned stream to interleave with another runtime;
    /// set 0 to return to the context's own stream. The CPU backend accepts only 0.
    /// </summary>
    public nint Stream
    {
        get
        {
            using var h = Borrow();
            nint stream;
            CapreseException.Check(NativeMethods.caprese_context_get_stream(h.Value, &stream), "caprese_context_get_stream");
            return stream;
        }
        set
        {
            using var h = Borrow();
            CapreseException.Check(NativeMethods.caprese_context_set_stream(h.Value, value), "caprese_context_set_stream");
        }
    }

    /// <summary>Waits for all queued work; reports device-side errors (e.g. out-of-range token ids on CUDA).</summary>
    public void Synchronize()
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_context_synchronize(h.Value), "caprese_context_synchronize");
    }

    // ------------------------------------------------------------------ memory

    /// <summary>Allocates <paramref name="bytes"/> zeroed bytes in the backend's memory.</summary>
    public DeviceBuffer Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        return AllocateCore(bytes, null, null);
    }

    /// <summary>Allocates a zeroed tensor; <see cref="DeviceBuffer.Tensor"/> describes it.</summary>
    public DeviceBuffer Allocate(DType dtype, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        TensorDesc t = TensorDesc.Create(0, dtype, shape);
        return AllocateCore(t.ByteSize, dtype, (long[])shape.Clone());
    }

    /// <summary>Allocates a tensor and copies <paramref name="data"/> into it (its byte size must match).</summary>
    public DeviceBuffer Upload<T>(ReadOnlySpan<T> data, DType dtype, params long[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(shape);
        TensorDesc t = TensorDesc.Create(0, dtype, shape);
        long dataBytes = (long)data.Length * sizeof(T);
        if (dataBytes != t.ByteSize)
            throw new ArgumentException(
                $"{data.Length} x {typeof(T).Name} = {dataBytes} bytes, but {dtype}{TensorDesc.Format(shape)} needs {t.ByteSize} bytes.",
                nameof(data));
        DeviceBuffer buffer = AllocateCore(t.ByteSize, dtype, (long[])shape.Clone());
        try
        {
            buffer.CopyFrom(data);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    private DeviceBuffer AllocateCore(long bytes, DType? dtype, long[]? shape)
    {
        using var h = Borrow();
        nint raw = 0;
        CapreseStatus status = NativeMethods.caprese_buffer_create(h.Value, (nuint)bytes, &raw);
        var handle = new BufferHandle();
        handle.Set(raw);
        if (status != CapreseStatus.Ok)
        {
            string message = NativeMethods.PtrToString(NativeMethods.caprese_last_error());
            handle.Dispose();
            throw CapreseException.Create(status, "caprese_buffer_create", message);
        }
        nint data;
        CapreseException.Check(NativeMethods.caprese_buffer_data(raw, &data), "caprese_buffer_data");
        return new DeviceBuffer(this, handle, data, bytes, dtype, shape);
    }

    /// <summary>Copies <paramref name="bytes"/> bytes between raw pointers on the context's stream.</summary>
    public void Copy(nint dst, nint src, long bytes, CopyKind kind)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_copy(h.Value, dst, src, (nuint)bytes, (int)kind), "caprese_copy");
    }

    /// <summary>Sets <paramref name="bytes"/> bytes at <paramref name="dst"/> to <paramref name="value"/>.</summary>
    public void Memset(nint dst, int value, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_memset(h.Value, dst, value, (nuint)bytes), "caprese_memset");
    }

    /// <summary>The copy kind from host memory into this backend's memory.</summary>
    internal CopyKind HostToBackend => Backend.HostToBackend();

    /// <summary>The copy kind from this backend's memory to host memory.</summary>
    internal CopyKind BackendToHost => Backend.BackendToHost();

    /// <summary>
    /// Grows the context's scratch memory to at least <paramref name="bytes"/> now (CUDA), so ops
    /// captured into a graph later need not allocate. The CPU backend has none: nothing happens.
    /// </summary>
    public void ReserveScratch(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_context_reserve_scratch(h.Value, (nuint)bytes), "caprese_context_reserve_scratch");
    }

    // ------------------------------------------------------------------ graphs

    /// <summary>
    /// Starts recording the ops enqueued on this context into a CUDA graph instead of running them
    /// (see caprese.h: no host copies, no synchronize, no scratch growth while capturing). The CPU
    /// backend throws with <see cref="CapreseStatus.NotSupported"/>.
    /// </summary>
    public void BeginGraphCapture()
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_graph_begin_capture(h.Value), "caprese_graph_begin_capture");
    }

    /// <summary>Ends the capture begun by <see cref="BeginGraphCapture"/> and returns the launchable graph.</summary>
    public CapreseGraph EndGraphCapture()
    {
        using var h = Borrow();
        nint raw = 0;
        CapreseStatus status = NativeMethods.caprese_graph_end_capture(h.Value, &raw);
        var handle = new GraphHandle();
        handle.Set(raw);
        if (status != CapreseStatus.Ok)
        {
            string message = NativeMethods.PtrToString(NativeMethods.caprese_last_error());
            handle.Dispose();
            throw CapreseException.Create(status, "caprese_graph_end_capture", message);
        }
        return new CapreseGraph(handle);
    }

    /// <summary>Enqueues every op of <paramref name="graph"/> (captured on this context) with one launch.</summary>
    public void Launch(CapreseGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        using var h = Borrow();
        using var g = graph.Borrow();
        CapreseException.Check(NativeMethods.caprese_graph_launch(h.Value, g.Value), "caprese_graph_launch");
    }

    // ------------------------------------------------------------------ events

    /// <summary>Creates a timing event.</summary>
    public CapreseEvent CreateEvent()
    {
        using var h = Borrow();
        nint raw = 0;
        CapreseStatus status = NativeMethods.caprese_event_create(h.Value, &raw);
        var handle = new EventHandle();
        handle.Set(raw);
        if (status != CapreseStatus.Ok)
        {
            string message = NativeMethods.PtrToString(NativeMethods.caprese_last_error());
            handle.Dispose();
            throw CapreseException.Create(status, "caprese_event_create", message);
        }
        return new CapreseEvent(handle);
    }

    /// <summary>Records <paramref name="e"/> on the context's stream.</summary>
    public void Record(CapreseEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        using var h = Borrow();
        using var ev = e.Borrow();
        CapreseException.Check(NativeMethods.caprese_event_record(h.Value, ev.Value), "caprese_event_record");
    }

    /// <summary>Milliseconds between two recorded events (waits for <paramref name="end"/>).</summary>
    public static float ElapsedMilliseconds(CapreseEvent start, CapreseEvent end)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        using var s = start.Borrow();
        using var e = end.Borrow();
        float ms;
        CapreseException.Check(NativeMethods.caprese_event_elapsed_ms(s.Value, e.Value, &ms), "caprese_event_elapsed_ms");
        return ms;
    }

    // ------------------------------------------------------------------ ops

    /// <summary>y[M,N] = x[M,K] · w[N,K]ᵀ (+ bias[N]). x, y, bias f32; w f32, f16 or bf16.</summary>
    public void Matmul(TensorDesc x, TensorDesc w, TensorDesc? bias, TensorDesc y)
    {
        using var h = Borrow();
        TensorDesc b = bias.GetValueOrDefault();
        CapreseException.Check(NativeMethods.caprese_matmul(h.Value, &x, &w, bias.HasValue ? &b : null, &y), "caprese_matmul");
    }

    /// <summary>y[M,N] = x[M,K] · w[N,K]ᵀ.</summary>
    public void Matmul(TensorDesc x, TensorDesc w, TensorDesc y) => Matmul(x, w, null, y);

    /// <summary>y = x / sqrt(mean(x²) + eps) * (weightOffset + w), row-wise. Gemma 2 uses weightOffset 1.</summary>
    public void RmsNorm(TensorDesc x, TensorDesc w, float eps, float weightOffset, TensorDesc y)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_rmsnorm(h.Value, &x, &w, eps, weightOffset, &y), "caprese_rmsnorm");
    }

    /// <summary>
    /// In-place rotary embedding of x[M, heads, head_dim]; row m is at position pos0 + m.
    /// <paramref name="invFreq"/> [head_dim/2] overrides theta^(-2i/head_dim) (Llama 3.1 scaling).
    /// </summary>
    public void Rope(TensorDesc x, int pos0, float theta, TensorDesc? invFreq, RopeStyle style)
    {
        using var h = Borrow();
        TensorDesc f = invFreq.GetValueOrDefault();
        CapreseException.Check(NativeMethods.caprese_rope(h.Value, &x, pos0, theta, invFreq.HasValue ? &f : null, (int)style), "caprese_rope");
    }

    /// <summary>
    /// Causal attention of q[M, Hq, hd] over the KV cache k, v[S, Hkv, hd] (rows 0 .. Pos0 + M - 1
    /// filled; Hq a multiple of Hkv) into output[M, Hq, hd]. All f32.
    /// </summary>
    public void Attention(TensorDesc q, TensorDesc kCache, TensorDesc vCache, AttentionParams p, TensorDesc output)
    {
        using var h = Borrow();
        NativeAttentionParams np = p.ToNative();
        CapreseException.Check(NativeMethods.caprese_attention(h.Value, &q, &kCache, &vCache, &np, &output), "caprese_attention");
    }

    /// <summary>
    /// <see cref="Rope"/> at the position held in <paramref name="pos"/> (i32 [1] in this context's
    /// memory), read when the op runs: a captured graph sees each replay's value. Bitwise equal
    /// to the by-value op on the same backend.
    /// </summary>
    public void RopeAt(TensorDesc x, TensorDesc pos, float theta, TensorDesc? invFreq, RopeStyle style)
    {
        using var h = Borrow();
        TensorDesc f = invFreq.GetValueOrDefault();
        CapreseException.Check(NativeMethods.caprese_rope_at(h.Value, &x, &pos, theta, invFreq.HasValue ? &f : null, (int)style), "caprese_rope_at");
    }

    /// <summary>
    /// <see cref="Attention"/> with the position read from <paramref name="pos"/> (i32 [1]);
    /// <c>p.Pos0</c> must be 0. On CUDA the split scratch is sized for the whole cache.
    /// </summary>
    public void AttentionAt(TensorDesc q, TensorDesc kCache, TensorDesc vCache, AttentionParams p, TensorDesc pos, TensorDesc output)
    {
        using var h = Borrow();
        NativeAttentionParams np = p.ToNative();
        CapreseException.Check(NativeMethods.caprese_attention_at(h.Value, &q, &kCache, &vCache, &np, &pos, &output), "caprese_attention_at");
    }

    /// <summary>dst[*pos + m] = src[m] for the M rows of <paramref name="src"/> (e.g. new keys into a KV cache).</summary>
    public void WriteRowsAt(TensorDesc src, TensorDesc pos, TensorDesc dst)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_write_rows_at(h.Value, &src, &pos, &dst), "caprese_write_rows_at");
    }

    /// <summary>output = act(gate) ⊙ up, all [M, H] f32; output may alias gate or up.</summary>
    public void GatedActivation(TensorDesc gate, TensorDesc up, Activation act, TensorDesc output)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_gated_activation(h.Value, &gate, &up, (int)act, &output), "caprese_gated_activation");
    }

    /// <summary>output = a + b (same shape, f32); output may alias a or b.</summary>
    public void Add(TensorDesc a, TensorDesc b, TensorDesc output)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_add(h.Value, &a, &b, &output), "caprese_add");
    }

    /// <summary>Row-wise softmax of x[M, N] / temperature; y may alias x.</summary>
    public void Softmax(TensorDesc x, float temperature, TensorDesc y)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_softmax(h.Value, &x, temperature, &y), "caprese_softmax");
    }

    /// <summary>y = cap * tanh(x / cap) (Gemma 2 logit soft-capping); y may alias x.</summary>
    public void Softcap(TensorDesc x, float cap, TensorDesc y)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_softcap(h.Value, &x, cap, &y), "caprese_softcap");
    }

    /// <summary>output[m] = argmax over n of x[m, n] (first index on ties); output is [M] i32.</summary>
    public void Argmax(TensorDesc x, TensorDesc output)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_argmax(h.Value, &x, &output), "caprese_argmax");
    }

    /// <summary>
    /// output[m] = an index drawn from softmax(x[m, :] / Temperature) restricted by top-k, then top-p, at the
    /// counter-based uniform (Seed, Offset + m). x [M, V] f32, output [M] i32. The draw is identical on every
    /// backend, and only the ids are written: sampled decoding needs no logits on the host.
    /// </summary>
    public void Sample(TensorDesc x, SamplingParams p, TensorDesc output)
    {
        using var h = Borrow();
        NativeSamplingParams np = p.ToNative();
        CapreseException.Check(NativeMethods.caprese_sample(h.Value, &x, &np, &output), "caprese_sample");
    }

    /// <summary>output[m, :] = table[ids[m], :] * scale. table [V, D] f32/f16/bf16, ids [M] i32, output [M, D] f32.</summary>
    public void Embedding(TensorDesc table, TensorDesc ids, float scale, TensorDesc output)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_embedding(h.Value, &table, &ids, scale, &output), "caprese_embedding");
    }

    /// <summary>
    /// Gated FFN over a subset of its neurons plus optional always-active extra neurons (a merged
    /// low-rank adapter): y = Σ_active act(x·wg_j)(x·wu_j) wd_j + Σ_e (x·eu_e) ed_e. All weights are
    /// [H, D] rows per neuron (the down projection transposed); x, y [M, D] f32 with M ≤ 16.
    /// <paramref name="indices"/> is required for <see cref="SparseSelection.Indices"/> only;
    /// <paramref name="extraUp"/> and <paramref name="extraDown"/> go together.
    /// </summary>
    public void SparseFfn(TensorDesc x, TensorDesc wGate, TensorDesc wUp, TensorDesc wDownT, TensorDesc? indices,
        TensorDesc? extraUp, TensorDesc? extraDown, Activation act, SparseSelection selection, float threshold, TensorDesc y)
    {
        using var h = Borrow();
        TensorDesc idx = indices.GetValueOrDefault(), eu = extraUp.GetValueOrDefault(), ed = extraDown.GetValueOrDefault();
        var p = new NativeSparseFfnParams { Activation = (int)act, Selection = (int)selection, Threshold = threshold };
        CapreseException.Check(NativeMethods.caprese_sparse_ffn(h.Value, &x, &wGate, &wUp, &wDownT,
            indices.HasValue ? &idx : null, extraUp.HasValue ? &eu : null, extraDown.HasValue ? &ed : null, &p, &y),
            "caprese_sparse_ffn");
    }

    // ------------------------------------------------------------------ training ops

    /// <summary>
    /// Gradient of <see cref="RmsNorm"/> with respect to x: dx = r·g·dy − x·r³/D·Σ(dy·g·x), r = 1/sqrt(mean(x²) + eps),
    /// g = weightOffset + w. x, dy, dx [M, D] f32; w [D] f32, f16 or bf16. dx may be the same tensor as x or dy.
    /// </summary>
    public void RmsNormBackward(TensorDesc x, TensorDesc w, TensorDesc dy, float eps, float weightOffset, TensorDesc dx)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_rmsnorm_backward(h.Value, &x, &w, &dy, eps, weightOffset, &dx), "caprese_rmsnorm_backward");
    }

    /// <summary>
    /// Gradient of <see cref="Rope"/>, in place: x[M, heads, head_dim] holds the gradient of the rotated values and
    /// receives the gradient of the inputs (the inverse rotation). Same arguments and conventions as <see cref="Rope"/>.
    /// </summary>
    public void RopeBackward(TensorDesc x, int pos0, float theta, TensorDesc? invFreq, RopeStyle style)
    {
        using var h = Borrow();
        TensorDesc f = invFreq.GetValueOrDefault();
        CapreseException.Check(NativeMethods.caprese_rope_backward(h.Value, &x, pos0, theta, invFreq.HasValue ? &f : null, (int)style),
            "caprese_rope_backward");
    }

    /// <summary>
    /// Gradient of <see cref="GatedActivation"/> (gate is the pre-activation): dGate = dOut ⊙ up ⊙ act'(gate),
    /// dUp = dOut ⊙ act(gate). All [M, H] f32. dGate and dUp may each be the same tensor as any input, but not each other.
    /// </summary>
    public void GatedActivationBackward(TensorDesc gate, TensorDesc up, TensorDesc dOut, Activation act, TensorDesc dGate, TensorDesc dUp)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_gated_activation_backward(h.Value, &gate, &up, &dOut, (int)act, &dGate, &dUp),
            "caprese_gated_activation_backward");
    }

    /// <summary>
    /// Gradients of <see cref="Attention"/> with the same q, caches and parameters for the upstream gradient dOut [M, Hq, hd]:
    /// dq [M, Hq, hd] is overwritten; dk and dv [S, Hkv, hd] get rows 0 .. Pos0 + M − 1 OVERWRITTEN with the gradient summed
    /// over every query row and head that attends them (rows nobody sees get zeros) and later rows left untouched.
    /// The softmax is recomputed. Outputs must not overlap each other or any input.
    /// </summary>
    public void AttentionBackward(TensorDesc q, TensorDesc kCache, TensorDesc vCache, AttentionParams p, TensorDesc dOut,
        TensorDesc dq, TensorDesc dk, TensorDesc dv)
    {
        using var h = Borrow();
        NativeAttentionParams np = p.ToNative();
        CapreseException.Check(NativeMethods.caprese_attention_backward(h.Value, &q, &kCache, &vCache, &np, &dOut, &dq, &dk, &dv),
            "caprese_attention_backward");
    }

    /// <summary>y[N, M] = x[M, N]ᵀ (f32, 2-D); y must not overlap x.</summary>
    public void Transpose(TensorDesc x, TensorDesc y)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_transpose(h.Value, &x, &y), "caprese_transpose");
    }

    /// <summary>output = alpha·a + beta·b elementwise (same shape, f32; alpha and beta finite); output may be a or b.</summary>
    public void Axpby(float alpha, TensorDesc a, float beta, TensorDesc b, TensorDesc output)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_axpby(h.Value, alpha, &a, beta, &b, &output), "caprese_axpby");
    }

    /// <summary>output = a ⊙ b elementwise (same shape, f32); output may be a or b.</summary>
    public void Mul(TensorDesc a, TensorDesc b, TensorDesc output)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_mul(h.Value, &a, &b, &output), "caprese_mul");
    }

    /// <summary>
    /// One bias-corrected AdamW step (decoupled weight decay, as torch.optim.AdamW), updating param, m and v in place.
    /// All four tensors f32 of one shape, pairwise non-overlapping; m and v start as zeros. lr ≥ 0, beta1 and beta2 in
    /// [0, 1), eps > 0, weightDecay ≥ 0 (all finite); step ≥ 1 counts the steps taken including this one.
    /// </summary>
    public void AdamStep(TensorDesc param, TensorDesc grad, TensorDesc m, TensorDesc v, float lr, float beta1, float beta2,
        float eps, float weightDecay, int step)
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_adam_step(h.Value, &param, &grad, &m, &v, lr, beta1, beta2, eps, weightDecay, step),
            "caprese_adam_step");
    }

    // ------------------------------------------------------------------ lifetime

    private long _nativeCalls;

    /// <summary>
    /// Calls this context (and its buffers) have made into libcaprese so far: ops, copies, graph launches,
    /// synchronisations. Per decode step it counts the host-side launches a CUDA graph replaces.
    /// </summary>
    public long NativeCalls => Interlocked.Read(ref _nativeCalls);

    internal CapreseSafeHandle.Lease Borrow()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        Interlocked.Increment(ref _nativeCalls);
        return _handle.Borrow();
    }

    /// <summary>
    /// Destroys the context. Buffers and events it created stay valid to dispose (the native
    /// backend lives until the last of them is gone) but can no longer be copied to or from.
    /// </summary>
    public void Dispose() => _handle.Dispose();

    /// <inheritdoc />
    public override string ToString() => $"CapreseContext({Backend}{(IsDisposed ? ", disposed" : "")})";
}
