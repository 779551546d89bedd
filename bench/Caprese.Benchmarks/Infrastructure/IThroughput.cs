using BenchmarkDotNet.Running;

namespace Caprese.Benchmarks.Infrastructure;

/// <summary>What one operation of a benchmark moves or produces, so the summary can show a rate.
/// Implemented by benchmark classes; the column creates an instance with the case's parameters.</summary>
public interface IThroughput
{
    /// <summary>Bytes read plus written by one operation of <paramref name="method"/> (0 = not a bandwidth benchmark).</summary>
    long BytesPerOperation(string method);

    /// <summary>Tokens produced by one operation (0 = not a token benchmark).</summary>
    double TokensPerOperation(string method);
}
