using Caprese.Models;
using Caprese.Models.Formats.HuggingFace;
using Caprese.Models.Formats.Safetensors;
using Caprese.Oracle.Tests.HuggingFace;
using Caprese.Oracle.Tests.Reference;
using Caprese.Oracle.Tests.Support;

namespace Caprese.Oracle.Tests.MathModel;

/// <summary>
/// The arithmetic model shipped in models/arith-3m, read by the runtime's loader and by the float64 TorchSharp oracle
/// from the same files: prefill logits of a real test prompt, then greedy decoding of its worked answer.
/// </summary>
public class ShippedArithModelOracleTests
{
    public static string ModelDirectory => Path.Combine(Paths.RepositoryRoot, "models", "arith-3m");

    private static TorchDecoder Oracle()
    {
        var config = OracleConfig.FromHf(HfConfig.Parse(File.ReadAllText(Path.Combine(ModelDirectory, "config.json")), "arith-3m/config.json"));
        using var file = SafetensorsFile.Open(Path.Combine(ModelDirectory, "model.safetensors"));
        var weights = file.Tensors.ToDictionary(t => t.Name, t => t.DequantizeToF32(), StringComparer.Ordinal);
        return new TorchDecoder(config, weights, maxPositions: 512);
    }

    [Fact]
    public void Runtime_logits_and_greedy_tokens_match_the_oracle()
    {
        using var model = ModelLoader.Load(ModelDirectory, cancellationToken: TestContext.Current.CancellationToken);
        var tokenizer = model.Tokenizer!;
        var prompt = tokenizer.Encode("Question: Anna has 12 apples. Then Anna buys 7 more apples. How many apples does Anna have now?\nAnswer:");
        using var oracle = Oracle();

        // Same tolerance argument as FamilyOracleTests: f32 against float64 on identical (f16-exact) weights.
        var prefill = model.Model.Prefill(prompt, 0);
        Compare.Logits(prefill, oracle.LastLogits(prompt), FamilyOracleTests.Tolerance, "arith-3m prefill");

        var expected = oracle.Greedy(prompt, 24);
        var actual = new List<int>();
        int next = TorchDecoder.Argmax(prefill.Select(x => (double)x).ToArray());
        for (int pos = prompt.Length; actual.Count < expected.Length; pos++)
        {
            actual.Add(next);
            var logits = model.Model.DecodeStep(next, pos);
            next = TorchDecoder.Argmax(logits.Select(x => (double)x).ToArray());
        }
        Assert.Equal(expected, actual);
    }
}
