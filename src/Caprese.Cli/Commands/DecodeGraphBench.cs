using System.Diagnostics;
using System.Globalization;
using Caprese.Interop;
using Caprese.Models.Sessions;
using Caprese.Models.Transformer;

namespace Caprese.Cli.Commands;

/// <summary>
/// `caprese bench --cuda-graphs`: whole greedy decode steps of one model, eager (one call per op) against replayed from a
/// CUDA graph (<see cref="DecodeSession.UseCudaGraphs"/>), in two sessions timed in alternating rounds so both see the same
/// machine state. Both must choose the same tokens (the graph replays the eager step's kernels bit for bit).
/// </summary>
/// <param name="Steps">Timed decode steps per session.</param>
/// <param name="EagerMsPerToken">Mean wall time of an eager step (each ends with its argmax id on the host).</param>
/// <param name="GraphMsPerToken">The same for a graph-replayed step.</param>
/// <param name="EagerCallsPerToken">Calls into libcaprese per eager step (ops, copies): the launches a graph saves.</param>
/// <param name="GraphCallsPerToken">The same per graph step (token copy, graph launch, argmax copy).</param>
/// <param name="TokensMatch">Whether both sessions chose the same tokens.</param>
/// <param name="GraphStatistics">How the graph session's steps ran (warm-up and capture are the untimed steps).</param>
internal sealed record DecodeGraphBench(
    int Steps, double EagerMsPerToken, double GraphMsPerToken, double EagerCallsPerToken, double GraphCallsPerToken,
    bool TokensMatch, DecodeGraphStatistics GraphStatistics)
{
    /// <summary>Steps before the timing starts: the graph session's warm-up and capture.</summary>
    public const int UntimedSteps = 2;

    private const int Rounds = 4;

    public double Speedup => EagerMsPerToken / GraphMsPerToken;

    public static DecodeGraphBench Run(TransformerModel model, CapreseContext context, int[] prompt, int steps)
    {
        if (steps < 1)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, "at least one timed step is needed");
        using var eager = model.CreateSession();
        using var graphed = model.CreateSession();
        eager.UseCudaGraphs = false;
        graphed.UseCudaGraphs = true;
        int eagerToken = eager.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastArgmax).Argmax(0);
        int graphToken = graphed.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastArgmax).Argmax(0);
        bool match = eagerToken == graphToken;
        for (int i = 0; i < UntimedSteps; i++)
        {
            eagerToken = Step(eager, eagerToken);
            graphToken = Step(graphed, graphToken);
            match &= eagerToken == graphToken;
        }

        double eagerMs = 0, graphMs = 0;
        long eagerCalls = 0, graphCalls = 0;
        var clock = new Stopwatch();
        for (int round = 0, done = 0; round < Rounds && done < steps; round++)
        {
            int n = (steps - done) / (Rounds - round);
            if (n == 0)
                continue;
            (eagerToken, eagerMs, eagerCalls) = Timed(eager, eagerToken, n, clock, context, eagerMs, eagerCalls, out int[] eagerIds);
            (graphToken, graphMs, graphCalls) = Timed(graphed, graphToken, n, clock, context, graphMs, graphCalls, out int[] graphIds);
            match &= eagerIds.AsSpan().SequenceEqual(graphIds);
            done += n;
        }
        return new DecodeGraphBench(steps, eagerMs / steps, graphMs / steps, (double)eagerCalls / steps, (double)graphCalls / steps,
            match, graphed.GraphStatistics);
    }

    private static int Step(DecodeSession session, int token) =>
        session.Append([token], ForwardKind.Decode, ForwardOutputs.LastArgmax).Argmax(0);

    private static (int Token, double Ms, long Calls) Timed(DecodeSession session, int token, int n, Stopwatch clock, CapreseContext context,
        double ms, long calls, out int[] ids)
    {
        ids = new int[n];
        long before = context.NativeCalls;
        clock.Restart();
        for (int i = 0; i < n; i++)
            ids[i] = token = Step(session, token);
        clock.Stop();
        return (token, ms + clock.Elapsed.TotalMilliseconds, calls + context.NativeCalls - before);
    }

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"[cuda graphs, {Steps} steps each, alternating rounds: eager {EagerMsPerToken:F3} ms/token ({EagerCallsPerToken:F0} native calls/token), " +
        $"graph {GraphMsPerToken:F3} ms/token ({GraphCallsPerToken:F0} calls/token), eager/graph {Speedup:F2}x; tokens {(TokensMatch ? "identical" : "DIFFER")}; " +
        $"graph session: {GraphStatistics.WarmUps} warm-up, {GraphStatistics.Captured} capture, {GraphStatistics.Replayed} replays, {GraphStatistics.Eager} eager]");
}
