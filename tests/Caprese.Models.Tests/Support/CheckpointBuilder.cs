using Caprese.Models.Loading;

namespace Caprese.Models.Tests.Support;

/// <summary>Builds small synthetic llama2.c checkpoints with a chosen header.</summary>
internal static class CheckpointBuilder
{
    public static readonly int[] TinyHeader = [8, 16, 2, 2, 1, 10, 4]; // dim hidden layers heads kv vocab seq

    /// <summary>Header plus exactly the payload it implies (deterministic small values).</summary>
    public static byte[] Valid(int[] header)
    {
        var h = Llama2cHeader.Parse(header, "builder");
        long bytes = Llama2cCheckpoint.Layout(h)[^1].ByteEnd;
        var data = new byte[bytes];
        Buffer.BlockCopy(header, 0, data, 0, 28);
        var floats = new float[(bytes - 28) / 4];
        var rng = new Random(1);
        for (int i = 0; i < floats.Length; i++)
            floats[i] = (float)(rng.NextDouble() - 0.5);
        Buffer.BlockCopy(floats, 0, data, 28, floats.Length * 4);
        return data;
    }

    /// <summary>A bare header with the given fields and <paramref name="payloadBytes"/> zero bytes after it.</summary>
    public static byte[] HeaderOnly(int[] header, int payloadBytes = 0)
    {
        var data = new byte[28 + payloadBytes];
        Buffer.BlockCopy(header, 0, data, 0, 28);
        return data;
    }
}
