using System.CommandLine;
using System.Globalization;
using Caprese.Models;
using Caprese.Models.Adapters;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;

namespace Caprese.Cli.Commands;

/// <summary>
/// How decode steps run the FFN, as generate and eval-math take it: <c>--sparsity-method</c>, <c>--sparsity</c>,
/// <c>--sparse-layers</c>, <c>--adapter</c>, <c>--adapter-form</c>, <c>--calibration</c>; resolved into an
/// <see cref="FfnPolicy"/> once the model is loaded (layer ranges, adapter checks and calibration need it).
/// </summary>
internal sealed class PolicyArguments
{
    public PolicyArguments()
    {
        SparsityMethod.AcceptOnlyFromAmong(SparsityArguments.Methods);
        SparseLayers.AcceptOnlyFromAmong(SparsityArguments.LayerChoices);
        AdapterForm.AcceptOnlyFromAmong("merged", "unmerged");
        Sparsity.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--sparsity must be in [0, 1)"); });
    }

    public Option<string> SparsityMethod { get; } = new("--sparsity-method", "--draft-sparsity-method") { Description = "Contextual sparsity for decode (the draft's, with --decode speculative/sirius/judge): none, griffin, cats or teal (teal masks inputs on the host: quality only, slower)", DefaultValueFactory = _ => "none" };
    public Option<double> Sparsity { get; } = new("--sparsity") { Description = "Fraction of FFN neurons skipped, in [0, 1)", DefaultValueFactory = _ => 0.5 };
    public Option<string?> SparseLayers { get; } = new("--sparse-layers") { Description = "all or first-half (default: first-half for griffin, all for cats)" };
    public Option<string?> Adapter { get; } = new("--adapter") { Description = "Caprese adapter file (from `caprese distill`); decode runs the sparsity it was trained for unless --sparsity-method says otherwise (which must then match)" };
    public Option<string> AdapterForm { get; } = new("--adapter-form") { Description = "merged (extra neurons of the one fused sparse FFN) or unmerged (separate low-rank products)", DefaultValueFactory = _ => "merged" };
    public Option<string?> Calibration { get; } = new("--calibration") { Description = "cats or teal: fixed thresholds calibrated once on this text (paragraphs separated by blank lines, or .jsonl with \"text\"/\"question\") instead of on the prompt's prefill" };

    public IEnumerable<Option> All => [SparsityMethod, Sparsity, SparseLayers, Adapter, AdapterForm, Calibration];

    /// <summary>What the flags ask for.</summary>
    public Request Read(ParseResult parse) => new(parse.GetValue(SparsityMethod)!, parse.GetValue(Sparsity), parse.GetValue(SparseLayers),
        parse.GetResult(SparsityMethod) is { Implicit: false }, parse.GetValue(Adapter),
        parse.GetValue(AdapterForm) == "unmerged" ? Models.Adapters.AdapterForm.Unmerged : Models.Adapters.AdapterForm.Merged,
        parse.GetValue(Calibration));

    /// <summary>The policy flags; the layer range needs the model's layer count, so they resolve after loading.</summary>
    /// <param name="Method">--sparsity-method.</param>
    /// <param name="Sparsity">--sparsity.</param>
    /// <param name="Layers">--sparse-layers; null = the method's default.</param>
    /// <param name="MethodExplicit">Whether --sparsity-method was given (else adapters bring their own sparsity).</param>
    /// <param name="AdapterPath">--adapter.</param>
    /// <param name="Form">--adapter-form.</param>
    /// <param name="CalibrationPath">--calibration.</param>
    public sealed record Request(string Method, double Sparsity, string? Layers, bool MethodExplicit, string? AdapterPath,
        AdapterForm Form, string? CalibrationPath)
    {
        /// <summary>The policy for <paramref name="loaded"/>; calibration notes go to stderr.</summary>
        /// <exception cref="ArgumentException">A setting that does not fit the model, or a calibration problem (the message names --calibration).</exception>
        /// <exception cref="AdapterMismatchException">Adapters for another model.</exception>
        public async Task<FfnPolicy> ResolveAsync(LoadedModel loaded)
        {
            var sparsity = SparsityArguments.Parse(Method, Sparsity, Layers, loaded.Config.Layers);
            if (AdapterPath is null)
                return new FfnPolicy(await CalibrateAsync(loaded, sparsity, CalibrationPath));
            // The file is checked against this model (fingerprint, shapes) before anything runs.
            var adapters = AdapterFile.Load(AdapterPath, loaded.Model).Adapters;
            var adapted = await CalibrateAsync(loaded, MethodExplicit ? sparsity : adapters.Sparsity, CalibrationPath);
            if (adapters.MismatchWith(loaded.Config, adapted) is { } problem)
                throw new ArgumentException(problem);
            return new FfnPolicy(adapted, adapters, Form);
        }
    }

    /// <summary>
    /// <paramref name="options"/> with thresholds calibrated on the file (none: unchanged). Only CATS and TEAL take one;
    /// GRIFFIN's selection is per prompt by definition.
    /// </summary>
    private static async Task<SparsityOptions> CalibrateAsync(LoadedModel loaded, SparsityOptions options, string? path)
    {
        if (path is null)
            return options;
        if (options.Method is not (Models.Sparsity.SparsityMethod.Cats or Models.Sparsity.SparsityMethod.Teal))
            throw new ArgumentException(options.Method == Models.Sparsity.SparsityMethod.Griffin
                ? "--calibration does not apply to griffin: GRIFFIN selects its neurons from each prompt's own prefill (use --sparsity-method cats or teal)"
                : "--calibration needs --sparsity-method cats or teal");
        try
        {
            var calibration = CalibrationText.Calibrate(loaded.Model, loaded.Tokenizer, path, options);
            await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"calibrated {options.Method.ToString().ToLowerInvariant()} on {path}: {calibration.SequenceCount} samples, {calibration.TotalRows} tokens, {calibration.RowCount} rows per layer"));
            return options with { Calibration = calibration };
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            // Every calibration problem is a bad argument (exit 1), a missing file included: it is not the model's.
            throw new ArgumentException($"--calibration {path}: {ex.Message}", ex);
        }
    }
}
