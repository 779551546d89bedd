using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using Caprese.Benchmarks.DecodePeers;
using Caprese.Benchmarks.Infrastructure;
using Caprese.Benchmarks.Peers;

// Usage: dotnet run -c Release --project bench/Caprese.Benchmarks -- --filter '*Matmul*' --job short
// --inprocess runs benchmarks inside this process (no `dotnet build` of a child project), for
// machines without the .NET SDK such as the GPU machine with a self-contained publish.
// --plot REPORT [--out PNG] draws latency vs sparsity from the sparse FFN sweep's BenchmarkDotNet
// report (CSV or full JSON) or from caprese_kernel_bench's JSON (see Infrastructure/SweepPlot.cs).
// --decode-peers [options] runs Caprese, llama.cpp and run.c decode side by side, round by round
// (DecodePeers/DecodePeersCommand.cs); --decode-peers-worker is the per-engine child it starts.
if (args.Length > 0 && args[0] == "--plot")
    return SweepPlot.Run(args[1..]);
if (args.Length > 0 && args[0] == DecodePeersCommand.Flag)
    return DecodePeersCommand.Run(args[1..]);
if (args.Length > 0 && args[0] == EngineWorker.Flag)
    return EngineWorker.Run(args[1..]);

var config = DefaultConfig.Instance
    .AddColumn(new ThroughputColumn())
    .WithOptions(ConfigOptions.JoinSummary);
var forwarded = args.Select(a => a.Equals("--inprocess", StringComparison.OrdinalIgnoreCase) ? "--inProcess" : a).ToArray();

// The GPU peer has no cases without a GPU; say so rather than silently running nothing.
bool wantsPeer = args.Any(a => a.Contains("Ilgpu", StringComparison.OrdinalIgnoreCase) || a == "*" || a == "'*'");
if (wantsPeer && IlgpuSparseFfnBenchmarks.UnavailableReason is { } reason)
    Console.WriteLine($"IlgpuSparseFfnBenchmarks skipped: {reason}");

BenchmarkSwitcher.FromAssembly(typeof(ThroughputColumn).Assembly).Run(forwarded, config);
return 0;
