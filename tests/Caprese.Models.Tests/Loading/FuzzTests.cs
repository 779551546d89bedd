using System.Buffers.Binary;
using Caprese.Interop;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;
using Caprese.Models.Loading;
using Caprese.Models.Tests.Support;
using Caprese.Models.Tokenization;

namespace Caprese.Models.Tests.Loading;

/// <summary>
/// Seeded mutations of the real files: every load must either succeed or throw
/// <see cref="ModelFormatException"/> (never another exception, never a crash).
/// </summary>
public sealed class FuzzTests
{
    private const int Mutations = 2000;
    private static readonly int[] Extremes = [0, 1, -1, 2, 3, int.MaxValue, int.MinValue, int.MaxValue / 2, 1 << 20, 65536, 7];

    [Fact]
    public void MutatedCheckpointsLoadOrFailCleanly()
    {
        var original = File.ReadAllBytes(SharedFiles.Checkpoint);
        var rng = new Random(20261123);
        int loaded = 0, rejected = 0;
        for (int i = 0; i < Mutations; i++)
        {
            var data = MutateCheckpoint(original, rng);
            try
            {
                using var ckpt = Llama2cCheckpoint.FromBytes(data, $"mutation {i}");
                foreach (var t in ckpt.Tensors)
                    _ = ckpt.Tensor(t.Name)[^1]; // touch the last element of every tensor
                if (loaded++ % 100 == 0)
                    RunOneStep(ckpt); // flipped weight bits (NaN, Inf) must not break the ops either
            }
            catch (ModelFormatException ex)
            {
                Assert.Equal($"mutation {i}", ex.FilePath);
                rejected++;
            }
        }
        Assert.True(loaded > 100 && rejected > 100, $"loaded {loaded}, rejected {rejected}: the mutation mix is off");
    }

    [Fact]
    public void MutatedTokenizersLoadOrFailCleanly()
    {
        var original = File.ReadAllBytes(SharedFiles.Tokenizer);
        var lengthFields = LengthFieldOffsets(original);
        var rng = new Random(1123);
        int loaded = 0, rejected = 0;
        for (int i = 0; i < Mutations; i++)
        {
            var data = MutateTokenizer(original, lengthFields, rng);
            try
            {
                var tok = SentencePieceBpeTokenizer.FromBytes(data, $"mutation {i}", 512);
                // A loaded tokenizer must still encode and decode without failing.
                var ids = tok.Encode("Once upon a time, naïve 🍅");
                _ = tok.Decode(ids);
                loaded++;
            }
            catch (ModelFormatException ex)
            {
                Assert.Equal($"mutation {i}", ex.FilePath);
                rejected++;
            }
        }
        Assert.True(loaded > 100 && rejected > 100, $"loaded {loaded}, rejected {rejected}: the mutation mix is off");
    }

    private static void RunOneStep(Llama2cCheckpoint ckpt)
    {
        using var context = CapreseContext.Create(BackendKind.Cpu);
        var config = ckpt.Header.ToModelConfig();
        using var model = new TransformerModel(context, ModelWeights.Upload(context, new Llama2cWeightSource(ckpt), config), ownsWeights: true);
        int next = model.PrefillArgmax([1, 403, 407], 0);
        Assert.InRange(next, 0, config.Vocab - 1);
        Assert.Equal(config.Vocab, model.DecodeStep(next, 3).Length);
    }

    private static byte[] MutateCheckpoint(byte[] original, Random rng)
    {
        int kind = rng.Next(6);
        switch (kind)
        {
            case 0: // truncate anywhere, the header included
                return original[..rng.Next(original.Length)];
            case 1: // append junk
                return [.. original, .. RandomBytes(rng, rng.Next(1, 64))];
            case 2: // a header field set to an extreme
            {
                var data = (byte[])original.Clone();
                BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4 * rng.Next(7)), Extremes[rng.Next(Extremes.Length)]);
                return data;
            }
            case 3: // a header field set to a random value
            {
                var data = (byte[])original.Clone();
                BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4 * rng.Next(7)), rng.Next(-8, 600));
                return data;
            }
            case 4: // bit flips in the header
            {
                var data = (byte[])original.Clone();
                for (int f = rng.Next(1, 4); f > 0; f--)
                    data[rng.Next(28)] ^= (byte)(1 << rng.Next(8));
                return data;
            }
            default: // bit flips anywhere (mostly weights: must still load)
            {
                var data = (byte[])original.Clone();
                for (int f = rng.Next(1, 16); f > 0; f--)
                    data[rng.Next(data.Length)] ^= (byte)(1 << rng.Next(8));
                return data;
            }
        }
    }

    private static byte[] MutateTokenizer(byte[] original, int[] lengthFields, Random rng)
    {
        var data = (byte[])original.Clone();
        switch (rng.Next(5))
        {
            case 0:
                return original[..rng.Next(original.Length)];
            case 1:
                return [.. original, .. RandomBytes(rng, rng.Next(1, 16))];
            case 2: // max_token_length or a token length set to an extreme
            {
                int at = rng.Next(4) == 0 ? 0 : lengthFields[rng.Next(lengthFields.Length)];
                BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(at), Extremes[rng.Next(Extremes.Length)]);
                return data;
            }
            case 3: // a token length nudged by a little (shifts every later record)
            {
                int at = lengthFields[rng.Next(lengthFields.Length)];
                int len = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at));
                BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(at), len + rng.Next(-2, 3));
                return data;
            }
            default: // bit flips anywhere: scores (NaN too), lengths, piece bytes
            {
                for (int f = rng.Next(1, 8); f > 0; f--)
                    data[rng.Next(data.Length)] ^= (byte)(1 << rng.Next(8));
                return data;
            }
        }
    }

    private static int[] LengthFieldOffsets(byte[] tokenizer)
    {
        var offsets = new List<int>();
        int o = 4;
        while (o < tokenizer.Length)
        {
            offsets.Add(o + 4);
            o += 8 + BinaryPrimitives.ReadInt32LittleEndian(tokenizer.AsSpan(o + 4));
        }
        return [.. offsets];
    }

    private static byte[] RandomBytes(Random rng, int n)
    {
        var b = new byte[n];
        rng.NextBytes(b);
        return b;
    }
}
