using System.Text;
using Caprese.Models.Decoding.Judge;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Decoding.Judge;

public sealed class JudgeTripleFileTests
{
    private const int FuzzSeed = 777;
    private const int FuzzIterations = 3000;

    // JSON structure and line characters: mutations that hit the parser's interesting paths more often than random bytes.
    private const string Structural = "{}[]\":,\\\n \0u";

    [Fact]
    public void ReadsTriplesSkippingBlankLines()
    {
        using var dir = new TempDirectory();
        string path = dir.File("triples.jsonl");
        // BOM, CRLF, blank and whitespace-only lines, extra fields, escapes and non-ASCII text.
        string text = "\uFEFF{\"prompt\": \"2+2=\", \"good\": \"4\", \"bad\": \"5\"}\r\n"
            + "\r\n   \t\n"
            + "{\"id\": 7, \"bad\": \"Berlin\", \"good\": \"Paris\\nok\", \"prompt\": \"Capital of France? \\u00e9\"}\n"
            + "{\"prompt\": \"\", \"good\": \"très bien\", \"bad\": \"très mal\"}";
        File.WriteAllText(path, text, new UTF8Encoding(false));

        var triples = JudgeTripleFile.Read(path);

        Assert.Equal(
            [new JudgeTriple("2+2=", "4", "5"), new JudgeTriple("Capital of France? é", "Paris\nok", "Berlin"), new JudgeTriple("", "très bien", "très mal")],
            triples);
        File.WriteAllText(path, "\n\n");
        Assert.Empty(JudgeTripleFile.Read(path));
        Assert.Equal(1 << 20, JudgeTripleFile.MaxLineBytes);
        Assert.Equal(1_000_000, JudgeTripleFile.MaxTriples);
    }

    [Theory]
    [InlineData("{\"prompt\": \"p\", \"good\": \"g\", \"bad\": ", "invalid JSON")]
    [InlineData("not json", "invalid JSON")]
    [InlineData("{\"prompt\": \"p\", \"good\": \"g\", \"bad\": \"b\"} trailing", "invalid JSON")]
    [InlineData("[1, 2]", "Array instead of a JSON object")]
    [InlineData("\"text\"", "String instead of a JSON object")]
    [InlineData("{\"prompt\": \"p\", \"good\": \"g\"}", "missing field \"bad\"")]
    [InlineData("{\"good\": \"g\", \"bad\": \"b\"}", "missing field \"prompt\"")]
    [InlineData("{\"prompt\": \"p\", \"bad\": \"b\"}", "missing field \"good\"")]
    [InlineData("{\"prompt\": 3, \"good\": \"g\", \"bad\": \"b\"}", "field \"prompt\" is a Number, not a string")]
    [InlineData("{\"prompt\": \"p\", \"good\": null, \"bad\": \"b\"}", "field \"good\" is a Null, not a string")]
    [InlineData("{\"prompt\": \"p\", \"good\": \"g\", \"bad\": [\"b\"]}", "field \"bad\" is a Array, not a string")]
    [InlineData("{\"prompt\": \"p\", \"good\": \"\", \"bad\": \"b\"}", "field \"good\" is empty")]
    [InlineData("{\"prompt\": \"p\", \"good\": \"g\", \"bad\": \"\"}", "field \"bad\" is empty")]
    [InlineData("{\"prompt\": \"p\", \"good\": \"g\", \"bad\": \"g\"}", "identical")]
    [InlineData("{\"prompt\": \"p\", \"good\": \"g\", \"good\": \"h\", \"bad\": \"b\"}", "field \"good\" appears twice")]
    [InlineData("{\"prompt\": \"\\ud800\", \"good\": \"g\", \"bad\": \"b\"}", "invalid")]
    public void ErrorsNameTheFileTheLineAndTheProblem(string badLine, string problem)
    {
        using var dir = new TempDirectory();
        string path = dir.File("triples.jsonl");
        File.WriteAllText(path, "{\"prompt\": \"p\", \"good\": \"g\", \"bad\": \"b\"}\n\n" + badLine + "\n{\"prompt\": \"p\", \"good\": \"g\", \"bad\": \"b\"}\n");

        var e = Assert.Throws<JudgeTripleFileException>(() => JudgeTripleFile.Read(path));

        Assert.Equal(path, e.FilePath);
        Assert.Equal(3, e.Line);
        Assert.StartsWith($"{path}: line 3: ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void InvalidUtf8IsAFormatError()
    {
        using var dir = new TempDirectory();
        string path = dir.File("triples.jsonl");
        File.WriteAllBytes(path, [.. "{\"prompt\": \"p\", \"good\": \"g"u8, 0xFF, 0xFE, .. "\", \"bad\": \"b\"}"u8]);
        var e = Assert.Throws<JudgeTripleFileException>(() => JudgeTripleFile.Read(path));
        Assert.Equal(1, e.Line);
    }

    [Fact]
    public void CapsOnLineLengthAndCountAreEnforced()
    {
        using var dir = new TempDirectory();
        string path = dir.File("triples.jsonl");
        string line = "{\"prompt\": \"p\", \"good\": \"g\", \"bad\": \"b\"}"; // 40 bytes
        File.WriteAllLines(path, [line, line, "", line]);

        Assert.Equal(3, JudgeTripleFile.Read(path, maxLineBytes: 40, maxTriples: 3).Count);
        var count = Assert.Throws<JudgeTripleFileException>(() => JudgeTripleFile.Read(path, maxLineBytes: 40, maxTriples: 2));
        Assert.Equal(4, count.Line);
        Assert.Contains("more than 2 triples", count.Message);
        var length = Assert.Throws<JudgeTripleFileException>(() => JudgeTripleFile.Read(path, maxLineBytes: 39, maxTriples: 3));
        Assert.Equal(1, length.Line);
        Assert.Contains("longer than 39 bytes", length.Message);

        // A real-size overlong line (no newline at all) fails at the default cap without reading the rest as one line.
        File.WriteAllText(path, line + "\n" + new string('x', JudgeTripleFile.MaxLineBytes + 10));
        var huge = Assert.Throws<JudgeTripleFileException>(() => JudgeTripleFile.Read(path));
        Assert.Equal(2, huge.Line);
        Assert.Contains($"longer than {JudgeTripleFile.MaxLineBytes} bytes", huge.Message);
    }

    [Fact]
    public void MissingFileIsAnIOError()
    {
        using var dir = new TempDirectory();
        Assert.Throws<FileNotFoundException>(() => JudgeTripleFile.Read(dir.File("absent.jsonl")));
    }

    [Fact]
    public void MutatedFilesReadOrFailWithAFormatError()
    {
        var original = Encoding.UTF8.GetBytes(string.Join("\n",
            "{\"prompt\": \"What is 12*3?\", \"good\": \"12*3 = 36\", \"bad\": \"12*3 = 38\"}",
            "",
            "{\"prompt\": \"Name a prime.\", \"good\": \"7\", \"bad\": \"9\", \"source\": \"hand\"}",
            "{\"prompt\": \"Caf\\u00e9?\", \"good\": \"oui \\\"merci\\\"\", \"bad\": \"non\"}"));
        var rng = new Random(FuzzSeed);
        int read = 0, rejected = 0;
        for (int i = 0; i < FuzzIterations; i++)
        {
            var bytes = (byte[])original.Clone();
            string description;
            if (rng.Next(4) == 0)
            {
                int length = rng.Next(bytes.Length);
                bytes = bytes[..length];
                description = $"truncated to {length}";
            }
            else
            {
                var edits = new List<string>();
                for (int n = rng.Next(1, 4); n > 0; n--)
                {
                    int pos = rng.Next(bytes.Length);
                    bytes[pos] = rng.Next(2) == 0 ? (byte)rng.Next(256) : (byte)Structural[rng.Next(Structural.Length)];
                    edits.Add($"byte {pos} = {bytes[pos]}");
                }
                description = string.Join(", ", edits);
            }
            try
            {
                var triples = JudgeTripleFile.Read(new MemoryStream(bytes), $"mutation {i}", 1 << 10, 100);
                Assert.All(triples, t => Assert.True(t.Good.Length > 0 && t.Bad.Length > 0 && t.Good != t.Bad));
                read++;
            }
            catch (JudgeTripleFileException e)
            {
                Assert.Equal($"mutation {i}", e.FilePath);
                Assert.InRange(e.Line, 1, 5);
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"triple fuzz seed {FuzzSeed} iteration {i} ({description}) threw {e.GetType().Name}: {e}");
            }
        }
        Assert.True(read > 100 && rejected > 1000, $"{read} read, {rejected} rejected: the mutation mix is off");
    }
}
