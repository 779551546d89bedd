using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Caprese.Interop;
using Caprese.Models.Transformer;
using Caprese.Models.Tokenization;

namespace Caprese.Models.Generation;

/// <summary>
/// Prompt in, text out: tokenizes (with BOS), prefills the prompt in one batched pass, then
/// decodes token by token until EOS, a stop string, the token budget or the context end. One generation at
/// a time per model, since the model has a single KV cache: a second one started while another runs (on
/// any thread, or two streams consumed in turn) throws <see cref="InvalidOperationException"/>.
/// Every next token is chosen on the backend, so only its id reaches the host: the argmax at temperature 0,
/// otherwise caprese_sample seeded from <see cref="GenerationOptions.Seed"/> (a random seed when null) with
/// the draw's step (0 for the token after the prompt) as counter, so a seeded generation is reproducible and
/// identical on every backend.
/// </summary>
public sealed class TextGenerator
{
    private readonly TransformerModel _model;
    private readonly ITokenizer _tokenizer;

    public TextGenerator(TransformerModel model, ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.VocabSize > model.Config.Vocab)
            throw new ArgumentException($"tokenizer has {tokenizer.VocabSize} tokens, the model only {model.Config.Vocab}", nameof(tokenizer));
        _model = model;
        _tokenizer = tokenizer;
    }

    /// <summary>Statistics of the last generation that ran to its end (streaming or one-shot).</summary>
    public GenerationStats? LastStats { get; private set; }

    /// <summary>Streams the generated text (the prompt is not repeated) as soon as each piece is complete.</summary>
    public async IAsyncEnumerable<string> GenerateAsync(string prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.Yield(); // the caller gets control back before the first (possibly long) prefill
        var run = new Run();
        foreach (var piece in Steps(prompt, options, run, cancellationToken))
        {
            if (piece.Length > 0)
                yield return piece;
        }
        LastStats = run.Stats;
    }

    /// <summary>Generates to the end and returns text, token ids and timing.</summary>
    public GenerationResult Generate(string prompt, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        var run = new Run();
        var text = new StringBuilder();
        foreach (var piece in Steps(prompt, options, run, cancellationToken))
            text.Append(piece);
        LastStats = run.Stats;
        return new GenerationResult(text.ToString(), run.PromptTokens, run.Generated, run.Stats!);
    }

    private IEnumerable<string> Steps(string prompt, GenerationOptions options, Run run, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var sampling = options.Temperature == 0f
            ? (SamplingParams?)null
            : new SamplingParams(options.Temperature, options.TopK, options.TopP, SeedOf(options), Offset: 0);
        int[] promptIds = _tokenizer.Encode(prompt, addBos: true);
        int maxSeq = _model.Config.MaxSeqLen;
        if (promptIds.Length >= maxSeq)
            throw new ArgumentException($"the prompt has {promptIds.Length} tokens; the model's context holds {maxSeq}", nameof(prompt));
        run.PromptTokens = promptIds;
        ct.ThrowIfCancellationRequested();
        using var claim = _model.ClaimSequence();  // held until the stream ends or is disposed

        var clock = Stopwatch.StartNew();
        int next = sampling is { } first ? _model.PrefillSample(promptIds, 0, first) : _model.PrefillArgmax(promptIds, 0);
        double prefillMs = clock.Elapsed.TotalMilliseconds;

        var decoder = _tokenizer.CreateDecoder(previousToken: promptIds[^1]);
        var stops = new StopStringFilter(options.StopStrings ?? []);
        int pos = promptIds.Length;
        double decodeMs = 0;
        int steps = 0;
        StopReason reason = StopReason.MaxTokens;
        while (run.Generated.Count < options.MaxTokens)
        {
            if (_tokenizer.EosIds.Contains(next))
            {
                reason = StopReason.EndOfSequence;
                break;
            }
            run.Generated.Add(next);
            yield return stops.Push(decoder.Append(next));
            if (stops.Stopped)
            {
                reason = StopReason.StopString;
                break;
            }
            if (run.Generated.Count == options.MaxTokens)
                break; // the budget is spent: no need to compute a token nobody reads
            if (pos >= maxSeq)
            {
                reason = StopReason.ContextFull;
                break;
            }
            ct.ThrowIfCancellationRequested();
            int token = next;
            int at = pos;
            clock.Restart();
            next = sampling is { } s
                ? _model.DecodeStepSample(token, at, s with { Offset = (ulong)(steps + 1) })
                : _model.DecodeStepArgmax(token, at);
            decodeMs += clock.Elapsed.TotalMilliseconds;
            steps++;
            pos++;
        }
        if (!stops.Stopped)
        {
            string tail = stops.Push(decoder.Flush());
            if (stops.Stopped)
                reason = StopReason.StopString;
            yield return tail + stops.Flush();
        }
        run.Stats = new GenerationStats(promptIds.Length, run.Generated.Count, prefillMs, decodeMs, steps, reason);
    }

    /// <summary>The generator seed of a run: <see cref="GenerationOptions.Seed"/> (as an unsigned 32-bit value), or a random one.</summary>
    internal static ulong SeedOf(GenerationOptions options) =>
        options.Seed is { } seed ? (ulong)(uint)seed : (ulong)Random.Shared.NextInt64();

    private sealed class Run
    {
        public int[] PromptTokens = [];
        public readonly List<int> Generated = [];
        public GenerationStats? Stats;
    }
}
