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
    DistillCommand.Create(),
    DemoCommand.Create(),
    EvalRecoveryCommand.Create(),
    BenchTrainingCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
