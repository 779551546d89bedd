namespace Caprese.Interop.Tests;

/// <summary>Failures surface as exceptions that carry the status, the native function and the native message.</summary>
public class ErrorTests
{
    [Fact]
    public void Matmul_ShapeMismatch_NamesTheArgument()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var x = ctx.Allocate(DType.F32, 2, 3);
        using var w = ctx.Allocate(DType.F32, 4, 5);
        using var y = ctx.Allocate(DType.F32, 2, 4);
        var ex = Assert.Throws<CapreseException>(() => ctx.Matmul(x.Tensor, w.Tensor, null, y.Tensor));
        Assert.Equal(CapreseStatus.Shape, ex.Status);
        Assert.Equal("caprese_matmul", ex.Operation);
        Assert.Contains("w [4, 5]", ex.NativeMessage);
        Assert.Contains("x [2, 3]", ex.NativeMessage);
        Assert.Contains("caprese_matmul", ex.Message);
        Assert.Contains(ex.NativeMessage, ex.Message);
    }

    [Fact]
    public void Matmul_WrongActivationDType_IsDTypeError()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var x = ctx.Allocate(DType.F16, 2, 3);
        using var w = ctx.Allocate(DType.F32, 4, 3);
        using var y = ctx.Allocate(DType.F32, 2, 4);
        var ex = Assert.Throws<CapreseException>(() => ctx.Matmul(x.Tensor, w.Tensor, null, y.Tensor));
        Assert.Equal(CapreseStatus.DType, ex.Status);
        Assert.StartsWith("x:", ex.NativeMessage);
    }

    [Fact]
    public void Embedding_IdOutOfRange_IsOutOfRange()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var table = ctx.Allocate(DType.F32, 4, 2);
        using var ids = ctx.Upload<int>([1, 4], DType.I32, 2);
        using var output = ctx.Allocate(DType.F32, 2, 2);
        var ex = Assert.Throws<CapreseException>(() =>
        {
            ctx.Embedding(table.Tensor, ids.Tensor, 1f, output.Tensor);
            ctx.Synchronize(); // where a device backend reports it
        });
        Assert.Equal(CapreseStatus.OutOfRange, ex.Status);
        Assert.NotEmpty(ex.NativeMessage);
    }

    [Fact]
    public void NullDataPointer_IsInvalidArgument()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var y = ctx.Allocate(DType.F32, 2, 2);
        TensorDesc nullX = TensorDesc.Create(0, DType.F32, 2, 2);
        var ex = Assert.Throws<CapreseException>(() => ctx.Add(nullX, y.Tensor, y.Tensor));
        Assert.Equal(CapreseStatus.InvalidArgument, ex.Status);
        Assert.Equal("caprese_add", ex.Operation);
        Assert.Contains("a: NULL data pointer", ex.NativeMessage);
    }

    [Fact]
    public void DefaultTensorDesc_IsRejectedByTheLibrary()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var y = ctx.Allocate(DType.F32, 2, 2);
        var ex = Assert.Throws<CapreseException>(() => ctx.Softcap(default, 1f, y.Tensor));
        Assert.Equal(CapreseStatus.Shape, ex.Status);
        Assert.Contains("x: ndim", ex.NativeMessage);
    }

    [Fact]
    public void MisalignedPointer_IsAlignmentError()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var buf = ctx.Allocate(64);
        TensorDesc odd = TensorDesc.Create(buf.Pointer + 2, DType.F32, 4);
        var ex = Assert.Throws<CapreseException>(() => ctx.Softcap(odd, 1f, odd));
        Assert.Equal(CapreseStatus.Alignment, ex.Status);
        Assert.Throws<ArgumentOutOfRangeException>(() => buf.AsTensor(2, DType.F32, 4));
    }

    [Fact]
    public void BadScalars_AreInvalidArgument()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var x = ctx.Allocate(DType.F32, 2, 4);
        using var w = ctx.Allocate(DType.F32, 4);
        Assert.Equal(CapreseStatus.InvalidArgument,
            Assert.Throws<CapreseException>(() => ctx.RmsNorm(x.Tensor, w.Tensor, 0f, 0f, x.Tensor)).Status);
        Assert.Equal(CapreseStatus.InvalidArgument,
            Assert.Throws<CapreseException>(() => ctx.Softmax(x.Tensor, 0f, x.Tensor)).Status);
        Assert.Equal(CapreseStatus.InvalidArgument,
            Assert.Throws<CapreseException>(() => ctx.GatedActivation(x.Tensor, x.Tensor, (Activation)42, x.Tensor)).Status);
    }

    [Fact]
    public void Attention_PastTheCache_IsOutOfRange()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var q = ctx.Allocate(DType.F32, 2, 2, 4);
        using var kv = ctx.Allocate(DType.F32, 3, 2, 4);
        var ex = Assert.Throws<CapreseException>(() =>
            ctx.Attention(q.Tensor, kv.Tensor, kv.Tensor, new AttentionParams(2, 0, 0.5f, 0f), q.Tensor));
        Assert.Equal(CapreseStatus.OutOfRange, ex.Status);
        Assert.Equal("caprese_attention", ex.Operation);
    }

    [Fact]
    public void CpuContext_RejectsAStream()
    {
        var ex = Assert.Throws<CapreseException>(() => CapreseContext.Create(BackendKind.Cpu, stream: 0x1234));
        Assert.Equal(CapreseStatus.InvalidArgument, ex.Status);
        Assert.Equal("caprese_context_create", ex.Operation);
        Assert.Contains("stream", ex.NativeMessage);

        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        Assert.Equal(0, ctx.Stream);
        Assert.Throws<CapreseException>(() => ctx.Stream = 0x1234);
        ctx.Stream = 0;
    }

    [Fact]
    public void UnknownBackend_IsInvalidArgument()
    {
        var ex = Assert.Throws<CapreseException>(() => CapreseContext.Create((BackendKind)7));
        Assert.Equal(CapreseStatus.InvalidArgument, ex.Status);
        Assert.False(CapreseLibrary.IsBackendAvailable((BackendKind)7, out string reason));
        Assert.NotEmpty(reason);
    }

    [Fact]
    public void ManagedChecks_ThrowClearArgumentExceptions()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var buf = ctx.Allocate(DType.F32, 2, 3);
        Assert.Throws<ArgumentException>(() => TensorDesc.Create(buf.Pointer, DType.F32));
        Assert.Throws<ArgumentException>(() => TensorDesc.Create(buf.Pointer, DType.F32, 1, 1, 1, 1, 1));
        Assert.Throws<ArgumentException>(() => TensorDesc.Create(buf.Pointer, DType.F32, 2, 0));
        Assert.Throws<ArgumentException>(() => TensorDesc.Create(buf.Pointer, DType.F32, long.MaxValue, 2));
        Assert.Throws<ArgumentException>(() => ctx.Upload<float>([1f, 2f], DType.F32, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => ctx.Allocate(0L));
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => buf.CopyFrom<float>(new float[7]));
        Assert.Contains("24-byte buffer", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => buf.CopyFrom<float>(new float[2], byteOffset: 20));
        Assert.Throws<ArgumentOutOfRangeException>(() => buf.CopyTo<float>(new float[1], byteOffset: -4));
        Assert.Throws<ArgumentOutOfRangeException>(() => buf.AsTensor(DType.F32, 7));
        Assert.Throws<ArgumentOutOfRangeException>(() => buf.Tensor.WithOffsetRows(2, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => buf.Tensor.WithOffsetRows(1, 2));
        Assert.Throws<InvalidOperationException>(() => ctx.Allocate(8).Tensor);
    }

    [Fact]
    public void TensorDesc_DescribesItsMemory()
    {
        TensorDesc t = TensorDesc.Create(0x1000, DType.BF16, 4, 3, 2);
        Assert.Equal(DType.BF16, t.DType);
        Assert.Equal(3, t.Rank);
        Assert.Equal([4L, 3L, 2L], t.Shape);
        Assert.Equal(24, t.ElementCount);
        Assert.Equal(48, t.ByteSize);
        TensorDesc rows = t.WithOffsetRows(1, 2);
        Assert.Equal(0x1000 + 12, rows.Data);
        Assert.Equal([2L, 3L, 2L], rows.Shape);
        Assert.Equal([6L, 4L], t.Reshape(6, 4).Shape);
        Assert.Throws<ArgumentException>(() => t.Reshape(5, 5));
        Assert.Equal(t, TensorDesc.Create(0x1000, DType.BF16, 4, 3, 2));
        Assert.Equal(0, default(TensorDesc).ByteSize);
    }

    [Fact]
    public void StatusStrings_CoverEveryStatus()
    {
        foreach (CapreseStatus s in Enum.GetValues<CapreseStatus>())
            Assert.NotEqual("unknown status", CapreseLibrary.StatusString(s));
    }

    [Fact]
    public void ExceptionTypes_FollowTheStatus()
    {
        Assert.IsType<CapreseBackendUnavailableException>(CapreseException.Create(CapreseStatus.BackendUnavailable, "op", "m"));
        Assert.IsType<CapreseOutOfMemoryException>(CapreseException.Create(CapreseStatus.OutOfMemory, "op", "m"));
        Assert.IsType<CapreseException>(CapreseException.Create(CapreseStatus.Device, "op", "m"));
    }

    [Fact]
    public void HugeAllocation_IsOutOfMemory()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        var ex = Assert.Throws<CapreseOutOfMemoryException>(() => ctx.Allocate(1L << 60));
        Assert.Equal("caprese_buffer_create", ex.Operation);
    }

    [Fact]
    public void Errors_AreThreadLocal_AndReadOnTheFailingThread()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var x = ctx.Allocate(DType.F32, 2, 3);
        using var w = ctx.Allocate(DType.F32, 4, 5);
        var messages = new string[4];
        Parallel.For(0, messages.Length, i =>
        {
            using var local = CapreseContext.Create(BackendKind.Cpu);
            using var y = local.Allocate(DType.F32, 2, 4 + i);
            try { local.Softmax(x.Tensor, 1f, y.Tensor); }
            catch (CapreseException e) { messages[i] = e.NativeMessage; }
        });
        for (int i = 0; i < messages.Length; i++) Assert.Contains($"y [2, {4 + i}]", messages[i]);
    }
}
