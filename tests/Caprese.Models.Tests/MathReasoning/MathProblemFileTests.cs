using System.Text;
using Caprese.Models.MathReasoning;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.MathReasoning;

public sealed class MathProblemFileTests
{
    private static readonly MathProblem[] Problems =
    [
        new("Janet’s ducks lay 16 eggs per day. How many are left?", "16 - 3 - 4 = <<16-3-4=9>>9\n#### 9"),
        new("A \"quoted\" question\nover two lines?", "It is 1,000.\n#### 1,000"),
        new("Negative?", "#### -3"),
    ];

    [Fact]
    public void WriteThenReadRoundTrips()
    {
        using var dir = new TempDirectory();
        string path = dir.File("problems.jsonl");
        MathProblemFile.Write(path, Problems);
        Assert.Equal(Problems, MathProblemFile.Read(path));
        Assert.Equal(Problems.Length, File.ReadAllLines(path).Length);
        Assert.Single(Directory.GetFiles(dir.Path)); // no temporary left behind

        MathProblemFile.Write(path, Problems[..1]); // replaces the file whole
        Assert.Equal(Problems[..1], MathProblemFile.Read(path));
    }

    [Fact]
    public void ReadsBlankLinesCrlfExtraFieldsAndAByteOrderMark()
    {
        string text = "\uFEFF{\"question\": \"q1\", \"answer\": \"#### 1\", \"id\": 7}\r\n\r\n   \n{\"answer\": \"x\\n#### 2\", \"question\": \"q2\"}";
        var problems = MathProblemFile.Read(new StringReader(text.TrimStart('\uFEFF')), "mem");
        Assert.Equal([new MathProblem("q1", "#### 1"), new MathProblem("q2", "x\n#### 2")], problems);

        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("bom.jsonl"), text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        Assert.Equal(problems, MathProblemFile.Read(dir.File("bom.jsonl")));
    }

    [Fact]
    public void ReadsTheGsm8kTestSet()
    {
        string path = Path.Combine(SharedFiles.RepositoryRoot, "..", "shared", "data", "gsm8k", "test.jsonl");
        Assert.SkipUnless(File.Exists(path), $"no {path}");
        var problems = MathProblemFile.Read(path);
        Assert.Equal(1319, problems.Count);
        Assert.Equal("18", problems[0].FinalAnswerText);
    }

    [Theory]
    [InlineData("{\"question\": \"q\", \"answer\": \"#### 1\"", 2, "invalid JSON")]
    [InlineData("[1, 2]", 2, "not a JSON object but array")]
    [InlineData("\"text\"", 2, "not a JSON object")]
    [InlineData("{\"answer\": \"#### 1\"}", 2, "no \"question\" field")]
    [InlineData("{\"question\": \"q\"}", 2, "no \"answer\" field")]
    [InlineData("{\"question\": 5, \"answer\": \"#### 1\"}", 2, "\"question\" is number, not a string")]
    [InlineData("{\"question\": \"q\", \"answer\": null}", 2, "\"answer\" is null, not a string")]
    [InlineData("{\"question\": \"  \", \"answer\": \"#### 1\"}", 2, "the question is empty")]
    [InlineData("{\"question\": \"q\", \"answer\": \"it is 5\"}", 2, "no final answer after \"####\"")]
    [InlineData("{\"question\": \"q\", \"answer\": \"#### \"}", 2, "no final answer after \"####\"")]
    [InlineData("{\"question\": \"q\", \"answer\": \"#### five\"}", 2, "\"five\" after \"####\" is not a number")]
    [InlineData("{\"question\": \"\\ud800\", \"answer\": \"#### 1\"}", 2, "invalid string")]
    public void MalformedLinesNameTheFileAndLine(string badLine, int line, string message)
    {
        string text = "{\"question\": \"fine\", \"answer\": \"#### 1\"}\n" + badLine + "\n";
        var e = Assert.Throws<InvalidDataException>(() => MathProblemFile.Read(new StringReader(text), "data.jsonl"));
        Assert.StartsWith($"data.jsonl: line {line}: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void LinesAndFilesPastTheCapsAreRefused()
    {
        string longLine = "{\"question\": \"" + new string('x', MathProblemFile.MaxLineLength) + "\", \"answer\": \"#### 1\"}";
        var e = Assert.Throws<InvalidDataException>(() => MathProblemFile.Read(new StringReader("\n" + longLine), "big"));
        Assert.Equal($"big: line 2: longer than {MathProblemFile.MaxLineLength} characters", e.Message);

        string three = string.Concat(Enumerable.Repeat("{\"question\": \"q\", \"answer\": \"#### 1\"}\n", 3));
        Assert.Equal(3, MathProblemFile.Read(new StringReader(three), "f", maxProblems: 3).Count);
        e = Assert.Throws<InvalidDataException>(() => MathProblemFile.Read(new StringReader(three), "f", maxProblems: 2));
        Assert.Equal("f: more than 2 problems", e.Message);
    }

    [Fact]
    public void WriteRefusesWhatReadWouldRefuseAndLeavesNoFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("out.jsonl");
        Assert.Throws<ArgumentException>(() => MathProblemFile.Write(path, [Problems[0], new MathProblem("q", "no marker")]));
        Assert.Throws<ArgumentException>(() => MathProblemFile.Write(path, [new MathProblem("", "#### 1")]));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void AMissingFileIsAFileNotFoundException()
    {
        using var dir = new TempDirectory();
        Assert.Throws<FileNotFoundException>(() => MathProblemFile.Read(dir.File("none.jsonl")));
    }

    // Random bytes, truncated and corrupted copies of a valid file, random UTF-16 (lone surrogates included): the reader
    // returns problems or throws its one documented exception, never anything else.
    [Fact]
    public void FuzzedInputOnlyEverThrowsInvalidDataException()
    {
        var random = new Random(12);
        using var dir = new TempDirectory();
        string validPath = dir.File("valid.jsonl");
        MathProblemFile.Write(validPath, Problems);
        byte[] valid = File.ReadAllBytes(validPath);
        string path = dir.File("fuzz.jsonl");
        int failures = 0, successes = 0;
        for (int i = 0; i < 1500; i++)
        {
            byte[] bytes = (i % 3) switch
            {
                0 => RandomBytes(random, random.Next(0, 300)),
                1 => valid[..random.Next(0, valid.Length + 1)],
                _ => Corrupt(random, valid),
            };
            File.WriteAllBytes(path, bytes);
            Check(() => MathProblemFile.Read(path));
            var chars = new char[random.Next(0, 200)];
            for (int c = 0; c < chars.Length; c++)
                chars[c] = random.Next(4) == 0 ? "{}\":\\n#"[random.Next(7)] : (char)random.Next(0, 0x10000);
            Check(() => MathProblemFile.Read(new StringReader(new string(chars)), "chars"));
        }
        Assert.True(failures > 1000 && successes > 10, $"{failures} refused, {successes} read");

        void Check(Func<IReadOnlyList<MathProblem>> read)
        {
            try
            {
                Assert.All(read(), p => Assert.NotNull(AnswerExtractor.ParseNumber(p.FinalAnswerText)));
                successes++;
            }
            catch (InvalidDataException)
            {
                failures++;
            }
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] Corrupt(Random random, byte[] valid)
    {
        var bytes = (byte[])valid.Clone();
        for (int k = random.Next(1, 4); k > 0; k--)
            bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
        return bytes;
    }
}
