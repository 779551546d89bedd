using Caprese.Models;
using Caprese.Models.Adapters;
using Caprese.Models.Decoding.Judge;

namespace Caprese.Cli.Tests;

/// <summary>`caprese judge-train` as a user runs it: a head from the draft that loads for the model, and input errors that leave no file.</summary>
public sealed class JudgeTrainTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("caprese-judge-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string EmbeddedModel => Path.Combine(CapreseProcess.CliDirectory, "models", "stories260K", "stories260K.bin");

    [Fact]
    public void JudgeTrainFromDraftWritesAHeadThatLoadsForTheModel()
    {
        string head = Path.Combine(_dir, "heads", "judge.safetensors");
        var r = CapreseProcess.Run(_dir, "judge-train", "--from-draft", "--sequences", "16", "--tokens", "16", "--epochs", "10", "--out", head);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains($"judge head: {head}", r.Stdout);
        Assert.Matches(@"training examples: \d+ acceptable, \d+ unacceptable; class weights: acceptable [\d.]+, unacceptable [\d.]+", r.Stdout);
        Assert.Matches(@"training accuracy: acceptable [\d.]+%, unacceptable [\d.]+%", r.Stdout);
        Assert.Matches(@"held-out accuracy: acceptable [\d.]+% of \d+, unacceptable [\d.]+% of \d+", r.Stdout);
        Assert.Equal(["judge.safetensors"], Directory.GetFiles(Path.GetDirectoryName(head)!).Select(Path.GetFileName));

        using var model = ModelLoader.Load(EmbeddedModel, new ModelLoadOptions(), TestContext.Current.CancellationToken);
        var content = JudgeHeadFile.Load(head, ModelFingerprint.Compute(model.Model), model.Config.Dim);
        Assert.StartsWith("draft:griffin 50%", content.TrainingMetadata["source"]);
        Assert.Equal("10", content.TrainingMetadata["epochs"]);
    }

    [Fact]
    public void JudgeTrainFromProblemsLabelsTheDraftsDeviationsWithTheArithmeticChecker()
    {
        // stories260K cannot do arithmetic: nearly every deviation continues to a wrong answer. The pipeline still runs
        // end to end, and the drafted tokens that agree with the dense model give the acceptable class.
        string problems = Path.Combine(_dir, "problems.jsonl");
        File.WriteAllText(problems,
            "{\"question\": \"Tom has 3 apples and buys 4 more. How many apples does he have?\", \"answer\": \"3 + 4 = <<3+4=7>>7\\n#### 7\"}\n" +
            "{\"question\": \"A girl had 10 flowers and gave away 4. How many are left?\", \"answer\": \"10 - 4 = <<10-4=6>>6\\n#### 6\"}\n" +
            "{\"question\": \"A farm sells 250 eggs a day for 4 days. How many eggs?\", \"answer\": \"250 * 4 = <<250*4=1000>>1000\\n#### 1,000\"}\n");
        string head = Path.Combine(_dir, "judge.safetensors");
        var r = CapreseProcess.Run(_dir, "judge-train", "--problems", problems, "--tokens", "24", "--sparsity", "0.8", "--epochs", "5",
            "--validation-fraction", "0.34", "--out", head);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("draft: griffin 80%", r.Stderr);
        Assert.Contains("3 problems (qa prompts)", r.Stderr);
        Assert.Contains($"judge head: {head}", r.Stdout);
        Assert.Contains("problems: 2 training, 1 held out (problems:problems.jsonl:qa:draft:griffin 80%", r.Stdout);
        var deviations = System.Text.RegularExpressions.Regex.Match(r.Stdout, @"deviations: (\d+) labelled, (\d+) acceptable, (\d+) unacceptable \(arithmetic checker");
        Assert.True(deviations.Success, r.Stdout);
        int labelled = int.Parse(deviations.Groups[1].Value), acceptable = int.Parse(deviations.Groups[2].Value);
        Assert.InRange(labelled, 1, 3 * 8);
        Assert.Equal(labelled, acceptable + int.Parse(deviations.Groups[3].Value));
        Assert.Matches(@"training examples: \d+ acceptable, \d+ unacceptable", r.Stdout);
        Assert.Matches(@"held-out accuracy: acceptable ([\d.]+%|n/a) of \d+, unacceptable ([\d.]+%|n/a) of \d+", r.Stdout);

        using var model = ModelLoader.Load(EmbeddedModel, new ModelLoadOptions(), TestContext.Current.CancellationToken);
        var content = JudgeHeadFile.Load(head, ModelFingerprint.Compute(model.Model), model.Config.Dim);
        Assert.StartsWith("problems:problems.jsonl:qa:draft:griffin 80%", content.TrainingMetadata["source"]);
        Assert.Equal("2 training, 1 held out", content.TrainingMetadata["problems"]);
        Assert.StartsWith($"{labelled} labelled, {acceptable} acceptable", content.TrainingMetadata["deviations"]);
    }

    [Fact]
    public void JudgeTrainTakesOneSourceAndProblemOptionsOnlyWithProblems()
    {
        string problems = Path.Combine(_dir, "problems.jsonl");
        File.WriteAllText(problems, "{\"question\": \"What is 3 + 4?\", \"answer\": \"#### 7\"}\n");
        string head = Path.Combine(_dir, "judge.safetensors");
        var both = CapreseProcess.Run(_dir, "judge-train", "--problems", problems, "--from-draft", "--out", head);
        Assert.Equal(1, both.ExitCode);
        Assert.StartsWith("error: give one of --triples FILE, --from-draft and --problems FILE, not several", both.Stderr);
        var stray = CapreseProcess.Run(_dir, "judge-train", "--from-draft", "--limit", "2", "--out", head);
        Assert.Equal(1, stray.ExitCode);
        Assert.StartsWith("error: --prompt-format and --limit choose the prompts of --problems", stray.Stderr);
        var malformed = Path.Combine(_dir, "bad.jsonl");
        File.WriteAllText(malformed, "{\"question\": \"What is 3 + 4?\", \"answer\": \"seven\"}\n");
        var bad = CapreseProcess.Run(_dir, "judge-train", "--problems", malformed, "--out", head);
        Assert.Equal(1, bad.ExitCode);
        Assert.StartsWith($"error: {malformed}: line 1:", bad.Stderr);
        Assert.DoesNotContain("   at ", bad.Stderr);
        Assert.Equal([malformed, problems], Directory.GetFiles(_dir).Order());
    }

    [Fact]
    public void JudgeTrainRefusesAMalformedTriplesFileAndWritesNothing()
    {
        string triples = Path.Combine(_dir, "triples.jsonl");
        File.WriteAllText(triples, "{\"prompt\": \"Once upon a time\", \"good\": \" there was a girl\", \"bad\": \" there was a dog\"}\n{\"prompt\": \"x\", \"good\": 3}\n");
        string head = Path.Combine(_dir, "judge.safetensors");
        var r = CapreseProcess.Run(_dir, "judge-train", "--triples", triples, "--out", head);
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith($"error: {triples}: line 2: field \"good\" is a Number", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.Equal([triples], Directory.GetFiles(_dir));
    }

    [Fact]
    public void JudgeTrainNeedsExactlyOneSourceOfTriples()
    {
        var none = CapreseProcess.Run(_dir, "judge-train", "--out", Path.Combine(_dir, "j.safetensors"));
        Assert.Equal(1, none.ExitCode);
        Assert.StartsWith("error: give the training triples", none.Stderr);
        var missing = CapreseProcess.Run(_dir, "judge-train", "--triples", Path.Combine(_dir, "none.jsonl"), "--out", Path.Combine(_dir, "j.safetensors"));
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("error: --triples:", missing.Stderr);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void JudgeTrainInterruptedWhileTrainingWritesNothing()
    {
        string head = Path.Combine(_dir, "judge.safetensors");
        var r = CapreseProcess.Run(_dir, line => line.StartsWith("train", StringComparison.Ordinal),
            "judge-train", "--from-draft", "--sequences", "8", "--tokens", "16", "--epochs", "1000000", "--out", head);
        Assert.True(r.ExitCode == 130, $"exit {r.ExitCode}\n{r.Stderr}");
        Assert.Contains("interrupted; no judge head was written", r.Stderr);
        Assert.Empty(Directory.GetFiles(_dir));
    }
}
