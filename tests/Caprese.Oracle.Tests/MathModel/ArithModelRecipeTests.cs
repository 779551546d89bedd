using Caprese.MathModel.Model;
using Caprese.MathModel.Tokenizer;
using Caprese.MathModel.Training;
using Caprese.Models;
using Caprese.Models.MathReasoning;
using Caprese.Models.Tokenization;
using Caprese.Oracle.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace Caprese.Oracle.Tests.MathModel;

/// <summary>
/// The recipe that trains models/arith-3m, run for a few steps on a tiny shape (CI does not train it to completion):
/// the tokenizer it trains keeps digits single and round-trips, training lowers the loss, and the checkpoint it writes
/// loads in Caprese's runtime with the logits TorchSharp computes from the same weights.
/// </summary>
public class ArithModelRecipeTests
{
    private static readonly List<MathProblem> Problems = new ArithmeticProblemGenerator(5).Generate(300);

    private static ITokenizer TrainTokenizer(string directory, out System.Text.Json.Nodes.JsonObject json)
    {
        var merges = ByteLevelBpeTrainer.Train(Problems.SelectMany(p => new[] { TrainingExample.Prompt(p), " " + p.Answer }), 400);
        json = ByteLevelBpeTrainer.ToTokenizerJson(merges);
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), json.ToJsonString());
        return HfTokenizerLoader.Load(directory, bosId: 0, eosIds: [1])!;
    }

    [Fact]
    public void Tokenizer_spells_numbers_one_digit_per_token_and_round_trips()
    {
        using var dir = new TempDirectory("arith-tokenizer");
        var tokenizer = TrainTokenizer(dir.Path, out _);
        var ids = tokenizer.Encode(" 4057 + 13", addBos: false);
        var pieces = ids.Select(id => tokenizer.Decode([id])).ToArray();
        Assert.Equal([" ", "4", "0", "5", "7", " +", " ", "1", "3"], pieces);
        foreach (var p in Problems.Take(50))
        {
            string text = TrainingExample.Prompt(p) + " " + p.Answer;
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addBos: false)));
        }
        // Frequent words became single tokens: the merges did their job.
        Assert.Single(tokenizer.Encode(" apples", addBos: false));
    }

    [Fact]
    public void A_few_steps_lower_the_loss_and_the_checkpoint_loads_with_matching_logits()
    {
        using var dir = new TempDirectory("arith-recipe");
        var tokenizer = TrainTokenizer(dir.Path, out var tokenizerJson);
        var examples = Problems.Select(p => TrainingExample.Encode(p, tokenizer, eosId: 1)).ToList();
        var config = new ArithLlamaConfig(VocabSize: tokenizer.VocabSize, Hidden: 32, Layers: 2, Heads: 4, KvHeads: 2, Intermediate: 64);
        var recipe = new TrainingRecipe(Steps: 25, BatchSize: 8, PeakLearningRate: 3e-3, WarmupSteps: 2, EvalEvery: 25,
            CheckpointEvery: 25, ValidationExamples: 16);
        using var model = new ArithLlama(config, seed: 3);
        var trainer = new Trainer(model, recipe, tokenizerJson, padId: 1, TextWriter.Null);
        var validation = examples.Take(16).ToList();
        var before = trainer.Validate(validation);
        string outDir = Path.Combine(dir.Path, "model");
        var after = trainer.Run(examples.Skip(16).ToList(), validation, outDir, ct: TestContext.Current.CancellationToken);
        Assert.True(after.Loss < before.Loss - 0.5, $"validation loss {before.Loss:F3} -> {after.Loss:F3}");

        // The runtime reads the checkpoint; TorchSharp computes from the same (f16-rounded) weights.
        var (step, weights) = CheckpointDirectory.Read(outDir);
        Assert.Equal(25, step);
        model.Load(weights);
        var prompt = tokenizer.Encode(TrainingExample.Prompt(Problems[0]));
        float[] expected;
        using (torch.no_grad())
        {
            var logits = model.Forward(torch.tensor(prompt.Select(i => (long)i).ToArray(), [1, prompt.Length]));
            expected = logits[0, prompt.Length - 1].data<float>().ToArray();
        }
        using var loaded = ModelLoader.Load(outDir, cancellationToken: TestContext.Current.CancellationToken);
        var actual = loaded.Model.Prefill(prompt, 0);
        // Both sides are f32 with different summation orders over ≤ 64-long dot products: 1e-4 of the logit scale.
        Compare.Logits(actual, expected.Select(x => (double)x).ToArray(), 1e-4, "trained checkpoint prefill");
        Assert.NotNull(loaded.Tokenizer);
    }
}
