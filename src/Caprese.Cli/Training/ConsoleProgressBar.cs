using System.Diagnostics;

namespace Caprese.Cli.Training;

/// <summary>
/// A progress bar on stderr for long training phases: redrawn in place on a terminal (at most 10 times a second),
/// one plain line per 10% when stderr is redirected (CI logs stay readable).
/// </summary>
internal sealed class ConsoleProgressBar
{
    private const int Width = 28;
    private readonly TextWriter _out = Console.Error;
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private readonly Stopwatch _sinceDraw = Stopwatch.StartNew();
    private string? _phase;
    private int _lastDecile = -1;
    private int _lastWidth;

    public void Report(string phase, int done, int total, string detail)
    {
        total = Math.Max(total, 1);
        done = Math.Clamp(done, 0, total);
        bool newPhase = phase != _phase;
        if (newPhase)
        {
            Finish();
            _phase = phase;
            _lastDecile = -1;
        }
        int filled = (int)((long)done * Width / total);
        string line = $"{phase,-8} [{new string('#', filled)}{new string('.', Width - filled)}] {done,5}/{total,-5} {detail}";
        if (_interactive)
        {
            if (!newPhase && done < total && _sinceDraw.ElapsedMilliseconds < 100)
                return;
            _sinceDraw.Restart();
            _out.Write('\r' + line.PadRight(_lastWidth));
            _lastWidth = line.Length;
        }
        else
        {
            int decile = (int)((long)done * 10 / total);
            if (decile == _lastDecile)
                return;
            _lastDecile = decile;
            _out.WriteLine(line);
        }
    }

    /// <summary>Ends the current bar's line.</summary>
    public void Finish()
    {
        if (_interactive && _lastWidth > 0)
            _out.WriteLine();
        _lastWidth = 0;
    }
}
