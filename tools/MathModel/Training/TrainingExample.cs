using Caprese.Models.MathReasoning;
using Caprese.Models.Tokenization;

namespace Caprese.MathModel.Training;

/// <summary>
/// One problem as the model sees it: &lt;s&gt; "Question: …\nAnswer:" then " worked answer" &lt;/s&gt;. The prompt is
/// encoded on its own, exactly as the evaluation harness will encode it, so training and evaluation split the text at
/// the same token. Only the answer's tokens (and the closing &lt;/s&gt;) are predicted in the loss.
/// </summary>
public sealed record TrainingExample(int[] Tokens, int PromptLength)
{
    public static string Prompt(MathProblem p) => "Question: " + p.Question + "\nAnswer:";

    public static TrainingExample Encode(MathProblem p, ITokenizer tokenizer, int eosId)
    {
        var prompt = tokenizer.Encode(Prompt(p), addBos: true);
        var answer = tokenizer.Encode(" " + p.Answer, addBos: false);
        return new TrainingExample([.. prompt, .. answer, eosId], prompt.Length);
    }
}
