using Caprese.Interop;
using Caprese.Models;
using Caprese.Models.Loading;

namespace Caprese.Cli.Commands;

/// <summary>Loads a model for a command, turning every expected failure into one "error: ..." line and an exit code.</summary>
internal static class ModelOpener
{
    public static async Task<(LoadedModel? Model, int ExitCode)> OpenAsync(string path, ModelLoadOptions load, bool needTokenizer, CancellationToken ct)
    {
        var stderr = Console.Error;
        if (BackendArguments.Unusable(load.Backend, load.Device) is { } unusable)
        {
            await stderr.WriteLineAsync($"error: {unusable.Message}");
            return (null, unusable.ExitCode);
        }
        BackendArguments.NoteIfSimulator(load.Backend, stderr);
        LoadedModel loaded;
        try
        {
            loaded = await ModelLoader.LoadAsync(DefaultModel.Resolve(path), load, ct);
        }
        catch (Exception ex) when (ex is ModelFormatException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"error: {ex.Message}");
            return (null, ExitCodes.BadModel);
        }
        catch (CapreseBackendUnavailableException ex)
        {
            await stderr.WriteLineAsync($"error: {ex.NativeMessage}");
            return (null, ExitCodes.BackendUnavailable);
        }
        if (needTokenizer && !loaded.HasTokenizer)
        {
            loaded.Dispose();
            await stderr.WriteLineAsync($"error: {path} has no tokenizer");
            return (null, ExitCodes.BadModel);
        }
        return (loaded, ExitCodes.Ok);
    }
}
