namespace Caprese.Models.Loading;

/// <summary>Names of the llama2.c checkpoint tensors (w1 = gate, w3 = up, w2 = down).</summary>
public static class TensorNames
{
    public const string TokenEmbedding = "token_embedding";
    public const string RmsAttention = "rms_att";
    public const string Wq = "wq";
    public const string Wk = "wk";
    public const string Wv = "wv";
    public const string Wo = "wo";
    public const string RmsFfn = "rms_ffn";
    public const string W1Gate = "w1";
    public const string W2Down = "w2";
    public const string W3Up = "w3";
    public const string RmsFinal = "rms_final";
    public const string FreqCisReal = "freq_cis_real";
    public const string FreqCisImag = "freq_cis_imag";
    public const string Classifier = "wcls";
}
