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
