using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using Caprese.Benchmarks.Infrastructure;

// Usage: dotnet run -c Release --project bench/Caprese.Benchmarks -- --filter '*Matmul*' --job short
// --inprocess runs benchmarks inside this process (no `dotnet build` of a child project), for
// machines without the .NET SDK such as the GPU machine with a self-contained publish.
var config = DefaultConfig.Instance
    .AddColumn(new ThroughputColumn())
    .WithOptions(ConfigOptions.JoinSummary);
var forwarded = args.Select(a => a.Equals("--inprocess", StringComparison.OrdinalIgnoreCase) ? "--inProcess" : a).ToArray();
BenchmarkSwitcher.FromAssembly(typeof(ThroughputColumn).Assembly).Run(forwarded, config);
