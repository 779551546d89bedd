using Caprese.Models.Tokenization;
using Caprese.Models.Training.Corpus;

namespace Caprese.Models.Sparsity;

/// <summary>
/// Calibration sequences from a user's file, as <see cref="TextCorpus.FromFile"/> reads it: a <c>.jsonl</c> file holds one
/// object per line with a string "text" or "question"; any other file is plain text, one sample per paragraph (blocks
/// separated by blank lines). Each sample is tokenized with BOS and cut to <c>maxTokens</c>; samples of BOS alone are dropped.
/// </summary>
public static class CalibrationText
{
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">A JSONL line is not an object with "text" or "question" (names the line), or the file holds no sample.</exception>
    public static List<int[]> Load(string path, ITokenizer tokenizer, int maxTokens)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 2);
        if (!File.Exists(path))
            throw new FileNotFoundException($"calibration file {path} not found", path);
        var corpus = TextCorpus.FromFile(path, tokenizer,
            new TextCorpusOptions(PromptTokens: 1, MaxTokens: maxTokens, MinContinuationTokens: 1, Fields: ["text", "question"]));
        if (corpus.Count == 0)
            throw new InvalidDataException($"calibration file {path} holds no text");
        return [.. corpus.Select(s => s.Tokens)];
    }

    /// <summary>Loads <paramref name="path"/> (cut to the model's context) and calibrates <paramref name="options"/> on it.</summary>
    public static SparsityCalibration Calibrate(Transformer.TransformerModel model, ITokenizer tokenizer, string path, SparsityOptions options) =>
        SparsityCalibration.FromText(model, Load(path, tokenizer, model.Config.MaxSeqLen), options);
}
