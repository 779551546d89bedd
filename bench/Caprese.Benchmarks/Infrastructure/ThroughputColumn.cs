using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Caprese.Benchmarks.Infrastructure;

/// <summary>
/// "Throughput": GB/s for memory-bound ops (bytes moved / mean time) or tokens/s for decoding.
/// Decode speed on a memory-bound GPU/CPU is bounded by bandwidth, so GB/s is the figure to
/// compare with the hardware's peak.
/// </summary>
public sealed class ThroughputColumn : IColumn
{
    public string Id => nameof(ThroughputColumn);
    public string ColumnName => "Throughput";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "GB/s moved (bytes read + written per operation / mean time) or tokens/s";

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null || stats.Mean <= 0)
            return "-";
        var subject = Describe(benchmarkCase);
        if (subject is null)
            return "-";
        string method = benchmarkCase.Descriptor.WorkloadMethod.Name;
        double seconds = stats.Mean * 1e-9;
        long bytes = subject.BytesPerOperation(method);
        if (bytes > 0)
            return string.Create(CultureInfo.InvariantCulture, $"{bytes / seconds / 1e9:F2} GB/s");
        double tokens = subject.TokensPerOperation(method);
        return tokens > 0 ? string.Create(CultureInfo.InvariantCulture, $"{tokens / seconds:F1} tok/s") : "-";
    }

    // A fresh, un-setup instance with the case's [Params] applied: enough to compute sizes.
    private static IThroughput? Describe(BenchmarkCase benchmarkCase)
    {
        var type = benchmarkCase.Descriptor.Type;
        if (!typeof(IThroughput).IsAssignableFrom(type))
            return null;
        var instance = (IThroughput)Activator.CreateInstance(type)!;
        foreach (var p in benchmarkCase.Parameters.Items)
        {
            var property = type.GetProperty(p.Name);
            if (property is not null)
                property.SetValue(instance, p.Value);
            else
                type.GetField(p.Name)?.SetValue(instance, p.Value);
        }
        return instance;
    }

    public override string ToString() => ColumnName;
}
