using System.Text;

namespace Caprese.Models.Formats;

/// <summary>
/// Output files written beside their target and renamed over it, so a reader never sees a half-written file, a
/// failed or cancelled write leaves the old file (or none) and no temporary behind, and the bytes are on disk before
/// the rename makes them visible.
/// </summary>
public static class AtomicFile
{
    /// <summary>Creates <paramref name="path"/> (and its directory) with what <paramref name="write"/> puts in the stream.</summary>
    /// <exception cref="IOException">The file cannot be written; the target is left as it was.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        // Unique per writer, so two processes (or threads) writing the same target never share a temporary.
        string temp = $"{full}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Creates <paramref name="path"/> holding <paramref name="text"/> as UTF-8 (no byte-order mark).</summary>
    public static void WriteAllText(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Write(path, stream => stream.Write(Encoding.UTF8.GetBytes(text)));
    }
}
