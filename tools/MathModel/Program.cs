using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Caprese.MathModel;
using Caprese.MathModel.Model;
using Caprese.MathModel.Tokenizer;
using Caprese.MathModel.Training;
using Caprese.Models.MathReasoning;
using Caprese.Models.Tokenization;

// The recipe of models/arith-6m, start to finish:
//   caprese-mathmodel --out models/arith-6m --data work/arith-data [--steps N] [--train-problems N] [--resume]
// 1. draws the train / validation / test problems (seeded splits; the test set excludes every training question),
// 2. trains the byte-level BPE tokenizer on the training text (digits stay single tokens),
// 3. trains the model from scratch with TorchSharp (libtorch CPU), validating and checkpointing as it goes.
var options = RecipeOptions.Parse(args);
if (options is null)
{
    Console.Error.WriteLine(RecipeOptions.Usage);
    return 1;
}
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
var watch = Stopwatch.StartNew();

Directory.CreateDirectory(options.DataDirectory);
var generator = new ArithmeticProblemGenerator(ArithmeticProblemGenerator.SplitSeed("train", options.DataSeed));
var train = generator.Generate(options.TrainProblems);
var trainQuestions = train.Select(p => p.Question).ToHashSet(StringComparer.Ordinal);
var validation = new ArithmeticProblemGenerator(ArithmeticProblemGenerator.SplitSeed("validation", options.DataSeed))
    .Generate(options.ValidationProblems, exclude: trainQuestions);
var test = new ArithmeticProblemGenerator(ArithmeticProblemGenerator.SplitSeed("test", options.DataSeed))
    .Generate(options.TestProblems, exclude: trainQuestions);
MathProblemFile.Write(Path.Combine(options.DataDirectory, "train.jsonl"), train);
MathProblemFile.Write(Path.Combine(options.DataDirectory, "validation.jsonl"), validation);
MathProblemFile.Write(Path.Combine(options.DataDirectory, "test.jsonl"), test);
Console.Error.WriteLine($"data: {train.Count} train, {validation.Count} validation, {test.Count} test problems in {options.DataDirectory}");

var merges = ByteLevelBpeTrainer.Train(train.SelectMany(p => new[] { TrainingExample.Prompt(p), " " + p.Answer }), options.VocabSize);
var tokenizerJson = ByteLevelBpeTrainer.ToTokenizerJson(merges);
string tokenizerPath = Path.Combine(options.DataDirectory, "tokenizer.json");
File.WriteAllText(tokenizerPath, tokenizerJson.ToJsonString());
var tokenizer = HfTokenizerLoader.Load(options.DataDirectory, bosId: 0, eosIds: [1])
    ?? throw new InvalidOperationException("tokenizer.json was not written");
int vocab = (int)tokenizerJson["model"]!["vocab"]!.AsObject().Count;
var encodedTrain = train.Select(p => TrainingExample.Encode(p, tokenizer, eosId: 1)).ToList();
var encodedValidation = validation.Take(options.Recipe.ValidationExamples).Select(p => TrainingExample.Encode(p, tokenizer, eosId: 1)).ToList();
Console.Error.WriteLine($"tokenizer: {vocab} tokens; train examples average {encodedTrain.Average(e => e.Tokens.Length):F1} tokens, longest {encodedTrain.Max(e => e.Tokens.Length)}");

var config = new ArithLlamaConfig(VocabSize: vocab, Hidden: options.Hidden, Layers: options.Layers, Intermediate: options.Intermediate,
    Heads: options.Heads, KvHeads: options.KvHeads);
using var model = new ArithLlama(config, options.Recipe.Seed);
int startStep = 0;
if (options.Resume && File.Exists(Path.Combine(options.OutDirectory, CheckpointDirectory.StateFile)))
{
    var (step, weights) = CheckpointDirectory.Read(options.OutDirectory);
    model.Load(weights);
    startStep = step;
    Console.Error.WriteLine($"resuming at step {step} (optimizer moments restart from zero)");
}
Console.Error.WriteLine($"model: {config.ParameterCount:N0} parameters ({config})");
var trainer = new Trainer(model, options.Recipe, tokenizerJson, padId: 1, Console.Error);
var result = trainer.Run(encodedTrain, encodedValidation, options.OutDirectory, startStep, cts.Token);
Console.Error.WriteLine($"done in {watch.Elapsed:hh\\:mm\\:ss}: validation loss {result.Loss:F4}, exact match {result.ExactMatch:P1}; model in {options.OutDirectory}");
return 0;

namespace Caprese.MathModel
{
    internal sealed record RecipeOptions(string OutDirectory, string DataDirectory, int TrainProblems, int ValidationProblems,
        int TestProblems, int DataSeed, int VocabSize, int Hidden, int Layers, int Intermediate, int Heads, int KvHeads, bool Resume, TrainingRecipe Recipe)
    {
        public const string Usage =
            "usage: caprese-mathmodel --out DIR --data DIR [--train-problems 40000] [--validation-problems 512] [--test-problems 1000]\n" +
            "       [--data-seed 0] [--vocab 512] [--hidden 192] [--layers 4] [--intermediate 1024] [--heads 6] [--kv-heads 2] [--steps N] [--batch N]\n" +
            "       [--lr X] [--threads N] [--eval-every N] [--checkpoint-every N] [--resume]";

        public static RecipeOptions? Parse(string[] args)
        {
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            bool resume = false;
            for (int i = 0; i < args.Length; i++)
            {
                if (args[i] == "--resume") { resume = true; continue; }
                if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
                    return null;
                values[args[i][2..]] = args[++i];
            }
            if (!values.ContainsKey("out") || !values.ContainsKey("data"))
                return null;
            int Int(string key, int fallback) => values.Remove(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
            var d = new TrainingRecipe();
            var recipe = d with
            {
                Steps = Int("steps", d.Steps),
                BatchSize = Int("batch", d.BatchSize),
                Threads = Int("threads", d.Threads),
                EvalEvery = Int("eval-every", d.EvalEvery),
                CheckpointEvery = Int("checkpoint-every", d.CheckpointEvery),
                ValidationExamples = Int("validation-examples", d.ValidationExamples),
                PeakLearningRate = values.Remove("lr", out var lr) ? double.Parse(lr, CultureInfo.InvariantCulture) : d.PeakLearningRate,
            };
            string outDir = values["out"], dataDir = values["data"];
            values.Remove("out");
            values.Remove("data");
            var parsed = new RecipeOptions(outDir, dataDir, Int("train-problems", 40000), Int("validation-problems", 512),
                Int("test-problems", 1000), Int("data-seed", 0), Int("vocab", 512), Int("hidden", 192), Int("layers", 4),
                Int("intermediate", 1024), Int("heads", 6), Int("kv-heads", 2), resume, recipe);
            return values.Count == 0 ? parsed : null;
        }
    }
}
