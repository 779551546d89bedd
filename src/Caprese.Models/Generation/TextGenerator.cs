using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Caprese.Models.Decoding;
using Caprese.Models.Sessions;
using Caprese.Models.Tokenization;
using Caprese.Models.Transformer;

namespace Caprese.Models.Generation;

/// <summary>
/// Prompt in, text out: tokenizes (with BOS), prefills the prompt in one batched pass, then decodes until EOS, a stop
/// string, the token budget or the context end, with the <see cref="GenerationOptions.Decoding"/> method. Every
/// generation runs on a <see cref="DecodeSession"/> of its own (an idle one is reused), so generations may run at the
/// same time on several threads or as several open streams; the model runs their forward passes one at a time.
/// With plain decoding every next token is chosen on the backend, so only its id reaches the host: the argmax at
/// temperature 0, otherwise caprese_sample seeded from <see cref="GenerationOptions.Seed"/> (a random seed when null)
/// with the draw's step as counter, so a seeded generation is reproducible and identical on every backend.
/// </summary>
public sealed class TextGenerator
{
    private readonly TransformerModel _model;
    private readonly ITokenizer _tokenizer;
    private readonly FfnPolicy? _policy;
    private DecodeSession? _idle;

    /// <param name="model">The model.</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    /// <param name="policy">How decode passes run the FFN (the draft's policy for speculative methods); null = the
    /// model's built-in policy (<see cref="TransformerModel.SetSparsity"/>) at the time each generation starts.</param>
    public TextGenerator(TransformerModel model, ITokenizer tokenizer, FfnPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.VocabSize > model.Config.Vocab)
            throw new ArgumentException($"tokenizer has {tokenizer.VocabSize} tokens, the model only {model.Config.Vocab}", nameof(tokenizer));
        policy?.Validate(model.Config);
        _model = model;
        _tokenizer = tokenizer;
        _policy = policy;
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
        var choice = new TokenChoice(options.Temperature, options.TopK, options.TopP, options.Temperature == 0f ? 0 : SeedOf(options));
        int[] promptIds = _tokenizer.Encode(prompt, addBos: true);
        int maxSeq = _model.Config.MaxSeqLen;
        if (promptIds.Length >= maxSeq)
            throw new ArgumentException($"the prompt has {promptIds.Length} tokens; the model's context holds {maxSeq}", nameof(prompt));
        run.PromptTokens = promptIds;
        ct.ThrowIfCancellationRequested();
        var method = options.Decoding ?? PlainDecoding.Instance;
        var session = RentSession(_policy ?? _model.Policy);
        try
        {
            var clock = Stopwatch.StartNew();
            var decoding = method.Start(session, promptIds, choice);
            double prefillMs = clock.Elapsed.TotalMilliseconds;

            var decoder = _tokenizer.CreateDecoder(previousToken: promptIds[^1]);
            var stops = new StopStringFilter(options.StopStrings ?? []);
            var decoded = options.StopWhen is null ? null : new StringBuilder(); // the text StopWhen looks at
            var chosen = new List<int> { decoding.Pending };
            int nextChosen = 0;
            double decodeMs = 0;
            StopReason reason = StopReason.MaxTokens;
            while (run.Generated.Count < options.MaxTokens)
            {
                if (nextChosen == chosen.Count)
                {
                    // Everything chosen so far was emitted: the method feeds its pending token and chooses more.
                    if (session.Length >= maxSeq)
                    {
                        reason = StopReason.ContextFull;
                        break;
                    }
                    ct.ThrowIfCancellationRequested();
                    chosen.Clear();
                    nextChosen = 0;
                    clock.Restart();
                    decoding.Advance(chosen, options.MaxTokens - run.Generated.Count);
                    decodeMs += clock.Elapsed.TotalMilliseconds;
                }
                int next = chosen[nextChosen++];
                if (_tokenizer.EosIds.Contains(next))
                {
                    reason = StopReason.EndOfSequence;
                    break;
                }
                run.Generated.Add(next);
                string piece = decoder.Append(next);
                yield return stops.Push(piece);
                if (stops.Stopped)
                {
                    reason = StopReason.StopString;
                    break;
                }
                if (options.StopWhen is { } stopWhen && stopWhen(decoded!.Append(piece).ToString()))
                {
                    reason = StopReason.StopCondition; // what the filter still holds is flushed below
                    break;
                }
            }
            if (!stops.Stopped)
            {
                string tail = stops.Push(decoder.Flush());
                if (stops.Stopped)
                    reason = StopReason.StopString;
                yield return tail + stops.Flush();
            }
            var counters = decoding.Stats;
            run.Stats = new GenerationStats(promptIds.Length, run.Generated.Count, prefillMs, decodeMs,
                checked((int)(counters.DraftSteps + counters.DensePasses)), reason) { Decoding = counters };
        }
        finally
        {
            ReturnSession(session);
        }
    }

    // A generation's session: the idle one when free (its caches are simply overwritten), else a new one.
    private DecodeSession RentSession(FfnPolicy policy)
    {
        var session = Interlocked.Exchange(ref _idle, null) ?? _model.CreateSession(policy);
        try
        {
            if (!Equals(session.Policy, policy))
                session.SetPolicy(policy);
        }
        catch
        {
            session.Dispose();
            throw;
        }
        return session;
    }

    private void ReturnSession(DecodeSession session)
    {
        if (Interlocked.CompareExchange(ref _idle, session, null) != null)
            session.Dispose();
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
