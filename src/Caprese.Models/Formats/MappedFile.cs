using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Caprese.Models.Loading;

namespace Caprese.Models.Formats;

/// <summary>
/// A read-only view of a whole file, memory-mapped so that opening a multi-GB checkpoint
/// copies nothing: the readers hand out spans straight into the mapping. Every access goes
/// through <see cref="Slice"/>, which checks the range against the file length.
/// Spans obtained from it are valid only until <see cref="Dispose"/> (or, when leases were taken
/// with <see cref="Retain"/>, until the last of them is released). The mapping is private
/// (copy-on-write): pages are shared with the page cache while only read, and a native kernel
/// that wrote into weights used in place would change its own copy, never the file or a crash.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly IDisposable? _owner;
    private byte* _base;
    private bool _disposed;
    // The opener's reference plus one per Retain(): the mapping goes when the last is released.
    private int _references = 1;
    private int _openerReleased;

    private MappedFile(string filePath, byte* basePointer, long length, IDisposable? owner)
    {
        FilePath = filePath;
        _base = basePointer;
        Length = length;
        _owner = owner;
    }

    /// <summary>Full path of the file (or the name given to <see cref="FromBytes"/>), used in error messages.</summary>
    public string FilePath { get; }

    /// <summary>File length in bytes.</summary>
    public long Length { get; }

    /// <summary>Maps <paramref name="path"/> read-only. I/O failures stay <see cref="IOException"/>s.</summary>
    public static MappedFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        try
        {
            long length = stream.Length;
            if (length == 0)
            {
                // An empty file cannot be mapped; it is still a valid (if useless) input that
                // the format readers reject with a proper ModelFormatException.
                stream.Dispose();
                return new MappedFile(fullPath, null, 0, null);
            }
            var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.CopyOnWrite, HandleInheritability.None, leaveOpen: false);
            var owner = new MappingOwner(map);
            try
            {
                owner.View = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.CopyOnWrite);
                byte* p = null;
                owner.View.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
                owner.Acquired = true;
                return new MappedFile(fullPath, p + owner.View.PointerOffset, length, owner);
            }
            catch
            {
                owner.Dispose();
                throw;
            }
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Wraps bytes already in memory (tests, fuzzing, embedded data); the array is pinned until disposal.</summary>
    public static MappedFile FromBytes(byte[] data, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(sourceName);
        var handle = GCHandle.Alloc(data, GCHandleType.Pinned);
        return new MappedFile(sourceName, (byte*)handle.AddrOfPinnedObject(), data.Length, new PinOwner(handle));
    }

    /// <summary>True when [offset, offset + length) lies inside the file (overflow-safe).</summary>
    public bool Contains(long offset, long length) =>
        offset >= 0 && length >= 0 && offset <= Length && length <= Length - offset;

    /// <summary>
    /// The bytes [offset, offset + length). Out-of-range requests are caller bugs (the format
    /// readers validate file-supplied ranges first and throw <see cref="ModelFormatException"/>),
    /// so they throw <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    public ReadOnlySpan<byte> Slice(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!Contains(offset, length))
            throw new ArgumentOutOfRangeException(nameof(offset), $"{FilePath}: range [{offset}, +{length}) is outside the {Length}-byte file");
        if (length > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(length), $"{FilePath}: {length} bytes do not fit in one span; read it in pieces");
        return length == 0 ? [] : new ReadOnlySpan<byte>(_base + offset, (int)length);
    }

    /// <summary>
    /// Address of byte <paramref name="offset"/> for ranges too large for a span (tensors over 2 GiB,
    /// device uploads); [offset, offset + length) is checked like <see cref="Slice"/>.
    /// </summary>
    public byte* GetPointer(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!Contains(offset, length))
            throw new ArgumentOutOfRangeException(nameof(offset), $"{FilePath}: range [{offset}, +{length}) is outside the {Length}-byte file");
        return _base + offset;
    }

    /// <summary>A bounded little-endian reader over [offset, offset + length).</summary>
    public SpanReader Reader(long offset, int length) => new(Slice(offset, length), FilePath, offset);

    /// <summary>
    /// Keeps the mapping alive until the returned lease is disposed, even after <see cref="Dispose"/>: weights used
    /// in place (zero-copy on the CPU backend) hold one for as long as the model lives.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The mapping is already gone.</exception>
    public IDisposable Retain()
    {
        while (true)
        {
            int n = Volatile.Read(ref _references);
            ObjectDisposedException.ThrowIf(n == 0, this);
            if (Interlocked.CompareExchange(ref _references, n + 1, n) == n)
                return new Lease(this);
        }
    }

    /// <summary>Releases the opener's reference; the mapping itself goes once no <see cref="Retain"/> lease is left.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _openerReleased, 1) == 0)
            Release();
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref _references) != 0)
            return;
        _disposed = true;
        _base = null;
        _owner?.Dispose();
    }

    private sealed class Lease(MappedFile file) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                file.Release();
        }
    }

    private sealed class MappingOwner(MemoryMappedFile map) : IDisposable
    {
        public MemoryMappedViewAccessor? View;
        public bool Acquired;

        public void Dispose()
        {
            if (Acquired)
            {
                View!.SafeMemoryMappedViewHandle.ReleasePointer();
                Acquired = false;
            }
            View?.Dispose();
            map.Dispose();
        }
    }

    private sealed class PinOwner(GCHandle handle) : IDisposable
    {
        private GCHandle _handle = handle;

        public void Dispose()
        {
            if (_handle.IsAllocated)
                _handle.Free();
        }
    }
}
