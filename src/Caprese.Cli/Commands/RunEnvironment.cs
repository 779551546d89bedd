using System.Globalization;

namespace Caprese.Cli.Commands;

/// <summary>What a benchmark report says about the machine it ran on: the CPU's name and how busy the machine was.</summary>
internal static class RunEnvironment
{
    /// <summary>The CPU's model name from /proc/cpuinfo (Linux), else the architecture.</summary>
    public static string CpuName()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is > 0 and var colon)
                    return line[(colon + 1)..].Trim();
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    /// <summary>
    /// The 1-, 5- and 15-minute load averages from /proc/loadavg (Linux), or null elsewhere: on a shared machine they say
    /// how much other work competed with the measurement.
    /// </summary>
    public static double[]? LoadAverage()
    {
        try
        {
            string[] parts = File.ReadAllText("/proc/loadavg").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3)
                return null;
            var values = new double[3];
            for (int i = 0; i < 3; i++)
                if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                    return null;
            return values;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
