using System.CommandLine;
using System.Text;
using Caprese.Cli.Commands;

Console.OutputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);

var root = new RootCommand("Caprese: fast LLM decoding on CPU and CUDA.")
{
    GenerateCommand.Create(),
    BenchCommand.Create(),
    InfoCommand.Create(),
    EvalSparsityCommand.Create(),
    EvalDecodingCommand.Create(),
    EvalMathCommand.Create(),
    DistillCommand.Create(),
    DemoCommand.Create(),
    EvalRecoveryCommand.Create(),
    JudgeTrainCommand.Create(),
    BenchTrainingCommand.Create(),
    BenchVerifyCommand.Create(),
    BenchLatencyCommand.Create(),
    GenMathCommand.Create(),
    MathReportCommand.Create(),
};
// Ctrl+C / SIGTERM cancel the command's token; long commands (distill) then finish their current step and say where
// their checkpoint is, which can take longer than System.CommandLine's default of 2 s before it kills the process.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) });
