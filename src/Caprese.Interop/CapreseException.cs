using Caprese.Interop.Native;

namespace Caprese.Interop;

/// <summary>
/// A native Caprese call failed. Carries the status, the native function that failed and the
/// library's own message, which names the argument and the problem.
/// </summary>
public class CapreseException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CapreseException(CapreseStatus status, string operation, string nativeMessage)
        : base(FormatMessage(status, operation, nativeMessage))
    {
        Status = status;
        Operation = operation;
        NativeMessage = nativeMessage;
    }

    /// <summary>The native status code.</summary>
    public CapreseStatus Status { get; }

    /// <summary>The native function that failed, e.g. "caprese_matmul".</summary>
    public string Operation { get; }

    /// <summary>The message of <c>caprese_last_error()</c> right after the failure.</summary>
    public string NativeMessage { get; }

    private static string FormatMessage(CapreseStatus status, string operation, string nativeMessage) =>
        string.IsNullOrEmpty(nativeMessage)
            ? $"{operation} failed: {status}"
            : $"{operation} failed ({status}): {nativeMessage}";

    /// <summary>
    /// Throws for a failed status. The message is read at once, on this thread, before any
    /// other Caprese call can overwrite it.
    /// </summary>
    internal static void Check(CapreseStatus status, string operation)
    {
        if (status != CapreseStatus.Ok) Throw(status, operation);
    }

    internal static void Throw(CapreseStatus status, string operation) =>
        throw Create(status, operation, NativeMethods.PtrToString(NativeMethods.caprese_last_error()));

    internal static CapreseException Create(CapreseStatus status, string operation, string message) => status switch
    {
        CapreseStatus.BackendUnavailable => new CapreseBackendUnavailableException(operation, message),
        CapreseStatus.OutOfMemory => new CapreseOutOfMemoryException(operation, message),
        _ => new CapreseException(status, operation, message),
    };
}

/// <summary>The requested backend cannot be used (CUDA not built, plugin not loadable, no GPU). Caprese never falls back to another backend.</summary>
public sealed class CapreseBackendUnavailableException : CapreseException
{
    /// <summary>Creates the exception.</summary>
    public CapreseBackendUnavailableException(string operation, string nativeMessage)
        : base(CapreseStatus.BackendUnavailable, operation, nativeMessage) { }
}

/// <summary>A host or device allocation failed.</summary>
public sealed class CapreseOutOfMemoryException : CapreseException
{
    /// <summary>Creates the exception.</summary>
    public CapreseOutOfMemoryException(string operation, string nativeMessage)
        : base(CapreseStatus.OutOfMemory, operation, nativeMessage) { }
}
