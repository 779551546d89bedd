namespace Caprese.Models.Transformer;

/// <summary>Host-side RoPE inverse-frequency tables, passed to the Rope op as inv_freq.</summary>
public static class RopeFrequencies
{
    /// <summary>The unscaled table: inv_freq[i] = theta^(-2i / headDim), i &lt; headDim / 2.</summary>
    public static float[] Default(int headDim, double theta)
    {
        var f = new float[headDim / 2];
        for (int i = 0; i < f.Length; i++)
            f[i] = (float)Math.Pow(theta, -2.0 * i / headDim);
        return f;
    }

    /// <summary>
    /// Llama 3.1 scaling of the default table. With wavelength λ = 2π / f and the original
    /// context L: λ &lt; L / high_freq_factor keeps f (high frequencies resolve positions locally),
    /// λ &gt; L / low_freq_factor uses f / factor (low frequencies are stretched to the longer context),
    /// and in between f is blended as (1 - s) f / factor + s f with s = (L / λ - low) / (high - low).
    /// Computed in double, rounded once to f32.
    /// </summary>
    public static float[] Llama3(int headDim, double theta, Llama3RopeScaling scaling)
    {
        ArgumentNullException.ThrowIfNull(scaling);
        double lowWavelength = scaling.OriginalMaxPositions / scaling.LowFreqFactor;
        double highWavelength = scaling.OriginalMaxPositions / scaling.HighFreqFactor;
        var f = new float[headDim / 2];
        for (int i = 0; i < f.Length; i++)
        {
            double freq = Math.Pow(theta, -2.0 * i / headDim);
            double wavelength = 2 * Math.PI / freq;
            double scaled;
            if (wavelength < highWavelength)
                scaled = freq;
            else if (wavelength > lowWavelength)
                scaled = freq / scaling.Factor;
            else
            {
                double s = (scaling.OriginalMaxPositions / wavelength - scaling.LowFreqFactor) / (scaling.HighFreqFactor - scaling.LowFreqFactor);
                scaled = (1 - s) * freq / scaling.Factor + s * freq;
            }
            f[i] = (float)scaled;
        }
        return f;
    }

    /// <summary>The table a config asks for, or null when the Rope op's own theta table applies.</summary>
    public static float[]? For(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.RopeScaling is { } s)
            return Llama3(config.HeadDim, config.RopeTheta, s);
        if (config.RopeFrequencyFactors is not { } factors)
            return null;
        var table = Default(config.HeadDim, config.RopeTheta);
        for (int i = 0; i < table.Length; i++)
            table[i] /= factors[i];
        return table;
    }
}
