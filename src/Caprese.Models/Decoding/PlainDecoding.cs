using Caprese.Interop;
using Caprese.Models.Sessions;

namespace Caprese.Models.Decoding;

/// <summary>
/// One token per forward pass through the session's policy (dense, or sparse when the policy is), chosen on the backend:
/// only the id reaches the host. Sampling uses caprese_sample seeded from the run's seed with the draw's index as counter
/// (0 for the token after the prompt), so a seeded generation is identical on every backend.
/// </summary>
public sealed class PlainDecoding : IDecodingMethod
{
    public static PlainDecoding Instance { get; } = new();

    public string Name => "dense";

    public IDecodingRun Start(DecodeSession session, ReadOnlySpan<int> prompt, TokenChoice choice)
    {
        ArgumentNullException.ThrowIfNull(session);
        return new Run(session, prompt, choice);
    }

    private sealed class Run : IDecodingRun
    {
        private readonly DecodeSession _session;
        private readonly TokenChoice _choice;
        private readonly bool _dense;
        private DecodingStats _stats;

        public Run(DecodeSession session, ReadOnlySpan<int> prompt, TokenChoice choice)
        {
            _session = session;
            _choice = choice;
            _dense = session.Policy.IsDense;
            Pending = choice.IsGreedy
                ? session.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastArgmax).Argmax(0)
                : session.ForwardSample(prompt, 0, ForwardKind.Prefill, Sampling(0));
        }

        public int Pending { get; private set; }
        public DecodingStats Stats => _stats;

        public int Advance(List<int> tokens, int maxTokens)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
            int pos = _session.Length;
            if (pos >= _session.Config.MaxSeqLen)
                throw new InvalidOperationException($"the context of {_session.Config.MaxSeqLen} positions is full");
            Pending = _choice.IsGreedy
                ? _session.Forward([Pending], pos, ForwardKind.Decode, ForwardOutputs.LastArgmax).Argmax(0)
                : _session.ForwardSample([Pending], pos, ForwardKind.Decode, Sampling((ulong)(_stats.Tokens + 1)));
            tokens.Add(Pending);
            _stats = _stats with
            {
                Tokens = _stats.Tokens + 1,
                DraftSteps = _stats.DraftSteps + (_dense ? 0 : 1),
                DensePasses = _stats.DensePasses + (_dense ? 1 : 0),
                DenseRows = _stats.DenseRows + (_dense ? 1 : 0),
            };
            return 1;
        }

        private SamplingParams Sampling(ulong offset) => new(_choice.Temperature, _choice.TopK, _choice.TopP, _choice.Seed, offset);
    }
}
