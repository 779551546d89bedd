using System.Globalization;
using System.Text;

namespace Caprese.Models.MathReasoning;

/// <summary>How hard a synthetic problem is: how many reasoning steps and how large its numbers.</summary>
public sealed record ArithmeticDifficulty(int Level, int MinSteps, int MaxSteps, int MaxOperand, int MaxFactor)
{
    /// <summary>1: one or two steps on numbers up to 20; 2: two or three steps up to 50; 3: three or four steps up to 99.</summary>
    public static readonly IReadOnlyList<ArithmeticDifficulty> Levels =
    [
        new(1, 1, 2, 20, 5),
        new(2, 2, 3, 50, 9),
        new(3, 3, 4, 99, 9),
    ];

    public static ArithmeticDifficulty Of(int level) =>
        Levels.FirstOrDefault(l => l.Level == level)
        ?? throw new ArgumentOutOfRangeException(nameof(level), level, $"difficulty levels are {string.Join(", ", Levels.Select(l => l.Level))}");
}

/// <summary>
/// GSM8K-style word problems with worked solutions in GSM8K's own style: each step is a sentence with the calculation
/// annotated as <c>&lt;&lt;a*b=c&gt;&gt;</c>, and the last line is <c>#### N</c>. Stories follow one quantity through 1–4
/// events (+ − × ÷, every intermediate a non-negative integer, divisions exact), told by one of several templates with
/// varied people and things. The same seed always gives the same problems, so train / validation / test splits are
/// seeds (<see cref="SplitSeed"/>); a test problem can still coincide with a training one by chance, which
/// <see cref="Generate"/>'s <c>exclude</c> set rules out.
/// </summary>
public sealed class ArithmeticProblemGenerator
{
    /// <summary>The number printed after <c>####</c> stays below this, so every answer has at most three digits.</summary>
    public const int MaxValue = 999;

    private static readonly string[] Names =
    [
        "Anna", "Ben", "Carla", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jack", "Kira", "Liam", "Maya", "Noah",
        "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Xena", "Yusuf", "Zoe", "Lena", "Omar",
    ];

    private static readonly (string One, string Many)[] Things =
    [
        ("apple", "apples"), ("pencil", "pencils"), ("sticker", "stickers"), ("cookie", "cookies"), ("marble", "marbles"),
        ("book", "books"), ("card", "cards"), ("egg", "eggs"), ("flower", "flowers"), ("toy car", "toy cars"),
        ("shell", "shells"), ("coin", "coins"), ("stamp", "stamps"), ("balloon", "balloons"), ("cupcake", "cupcakes"),
        ("orange", "oranges"), ("crayon", "crayons"), ("button", "buttons"),
    ];

    private static readonly string[] Containers = ["boxes", "bags", "packs", "baskets", "jars", "crates"];
    private static readonly string[] Groups = ["friends", "classmates", "cousins", "neighbors", "teammates"];

    /// <summary>The seed of a named split ("train", "validation", "test") for a base seed.</summary>
    public static int SplitSeed(string split, int baseSeed = 0) => split switch
    {
        "train" => baseSeed * 3 + 1,
        "validation" => baseSeed * 3 + 2,
        "test" => baseSeed * 3 + 3,
        _ => throw new ArgumentException($"unknown split '{split}' (train, validation, test)", nameof(split)),
    };

    private readonly Random _rng;

    public ArithmeticProblemGenerator(int seed) => _rng = new Random(seed);

    /// <summary>
    /// <paramref name="count"/> distinct problems, difficulty levels drawn uniformly from <paramref name="levels"/>
    /// (all levels when null); questions in <paramref name="exclude"/> are skipped (e.g. the training set's, when
    /// drawing a test set).
    /// </summary>
    public List<MathProblem> Generate(int count, IReadOnlyList<int>? levels = null, IReadOnlySet<string>? exclude = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var chosen = (levels ?? ArithmeticDifficulty.Levels.Select(l => l.Level).ToList()).Select(ArithmeticDifficulty.Of).ToList();
        if (chosen.Count == 0)
            throw new ArgumentException("at least one difficulty level", nameof(levels));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var problems = new List<MathProblem>(count);
        int attempts = 0;
        while (problems.Count < count)
        {
            if (++attempts > 50 * count + 1000)
                throw new InvalidOperationException($"could only draw {problems.Count} distinct problems of {count}");
            var p = Next(chosen[_rng.Next(chosen.Count)]);
            if (exclude?.Contains(p.Question) == true || !seen.Add(p.Question))
                continue;
            problems.Add(p);
        }
        return problems;
    }

    /// <summary>One problem of the given difficulty.</summary>
    public MathProblem Next(ArithmeticDifficulty difficulty)
    {
        // Rejection sampling keeps every intermediate in [0, MaxValue] without biasing templates' wording.
        for (int attempt = 0; ; attempt++)
        {
            var story = new Story(this, difficulty);
            int template = _rng.Next(3);
            bool ok = template switch
            {
                0 => story.Collection(),
                1 => story.Shopping(),
                _ => story.Comparison(),
            };
            if (ok)
                return story.ToProblem();
            if (attempt > 1000)
                throw new InvalidOperationException("no valid problem drawn in 1000 attempts");
        }
    }

    private int Between(int min, int max) => _rng.Next(min, max + 1);
    private T Pick<T>(IReadOnlyList<T> items) => items[_rng.Next(items.Count)];

    private static string N(int v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>One problem being written: question sentences, solution steps and the running value.</summary>
    private sealed class Story(ArithmeticProblemGenerator g, ArithmeticDifficulty d)
    {
        private readonly StringBuilder _question = new();
        private readonly List<string> _steps = [];
        private int _answer;
        private readonly string _name = g.Pick(Names);
        private readonly (string One, string Many) _thing = g.Pick(Things);

        public MathProblem ToProblem() =>
            new(_question.ToString().Trim(), string.Join("\n", _steps) + $"\n{FinalAnswerMarker} {N(_answer)}");

        private const string FinalAnswerMarker = MathProblem.FinalAnswerMarker;

        private void Ask(string sentence) => _question.Append(sentence).Append(' ');

        // "Anna has 12 + 5 = <<12+5=17>>17 apples now." The annotation holds the bare calculation, as GSM8K's do.
        private bool Step(int a, char op, int b, Func<string, string> sentence, out int result)
        {
            result = op switch
            {
                '+' => a + b,
                '-' => a - b,
                '*' => a * b,
                _ => b != 0 && a % b == 0 ? a / b : -1,
            };
            if (result < 0 || result > MaxValue || (op == '/' && b == 0))
                return false;
            string calc = $"{N(a)}{op}{N(b)}";
            _steps.Add(sentence($"{N(a)} {op} {N(b)} = <<{calc}={N(result)}>>{N(result)}"));
            return true;
        }

        private int Steps() => g.Between(d.MinSteps, d.MaxSteps);
        private int Operand() => g.Between(2, d.MaxOperand);
        private int Factor() => g.Between(2, d.MaxFactor);

        /// <summary>A person's collection changes through a chain of events; how many are there at the end?</summary>
        public bool Collection()
        {
            int value = Operand();
            Ask($"{_name} has {N(value)} {_thing.Many}.");
            int steps = Steps();
            bool shared = false;
            for (int i = 0; i < steps; i++)
            {
                bool last = i == steps - 1;
                int kind = g._rng.Next(last ? 5 : 4);
                int next;
                switch (kind)
                {
                    case 0:
                    {
                        int k = Operand();
                        string verb = g.Pick(["buys", "finds", "gets", "is given"]);
                        Ask($"Then {_name} {verb} {N(k)} more {_thing.Many}.");
                        if (!Step(value, '+', k, s => $"After that, {_name} has {s} {_thing.Many}.", out next)) return false;
                        break;
                    }
                    case 1:
                    {
                        int k = Operand();
                        string verb = g.Pick(["gives away", "loses", "sells", "uses"]);
                        Ask($"Then {_name} {verb} {N(k)} {_thing.Many}.");
                        if (!Step(value, '-', k, s => $"{_name} has {s} {_thing.Many} left.", out next)) return false;
                        break;
                    }
                    case 2:
                    {
                        int k = Factor(), each = g.Between(2, Math.Min(d.MaxOperand, 20));
                        string container = g.Pick(Containers);
                        Ask($"{_name} then buys {N(k)} {container} with {N(each)} {_thing.Many} in each.");
                        if (!Step(k, '*', each, s => $"The {container} hold {s} {_thing.Many}.", out int bought)) return false;
                        if (!Step(value, '+', bought, s => $"So {_name} has {s} {_thing.Many}.", out next)) return false;
                        break;
                    }
                    case 3:
                    {
                        int k = Factor();
                        Ask($"Then the number of {_thing.Many} becomes {N(k)} times as many.");
                        if (!Step(value, '*', k, s => $"Now there are {s} {_thing.Many}.", out next)) return false;
                        break;
                    }
                    default:
                    {
                        int k = Factor();
                        string group = g.Pick(Groups);
                        Ask($"{_name} shares them equally among {N(k)} {group}.");
                        if (!Step(value, '/', k, s => $"Each of the {group} gets {s} {_thing.Many}.", out next)) return false;
                        shared = true;
                        break;
                    }
                }
                value = next;
            }
            Ask(shared ? $"How many {_thing.Many} does each one get?" : $"How many {_thing.Many} does {_name} have now?");
            _answer = value;
            return true;
        }

        /// <summary>Buying things at a price, possibly several kinds, paying with a note: the cost or the change.</summary>
        public bool Shopping()
        {
            int count = Factor();
            int price = g.Between(2, Math.Max(3, d.MaxOperand / 2));
            Ask($"{_name} buys {N(count)} {_thing.Many} for ${N(price)} each.");
            if (!Step(count, '*', price, s => $"The {_thing.Many} cost ${s}.", out int total)) return false;
            int steps = Steps() - 1;
            for (int i = 0; i < steps; i++)
            {
                bool last = i == steps - 1;
                if (!last || g._rng.Next(2) == 0)
                {
                    var other = g.Pick(Things);
                    if (other == _thing) return false;
                    int c2 = Factor(), p2 = g.Between(2, Math.Max(3, d.MaxOperand / 2));
                    Ask($"{_name} also buys {N(c2)} {other.Many} for ${N(p2)} each.");
                    if (!Step(c2, '*', p2, s => $"The {other.Many} cost ${s}.", out int extra)) return false;
                    if (!Step(total, '+', extra, s => $"Together {_name} spends ${s}.", out total)) return false;
                    i++; // two calculations count as two steps
                }
                else
                {
                    int note = ((total / 10) + 1 + g._rng.Next(3)) * 10;
                    Ask($"{_name} pays with ${N(note)}.");
                    if (!Step(note, '-', total, s => $"The change is ${s}.", out int change)) return false;
                    Ask("How much change does " + _name + " get in dollars?");
                    _answer = change;
                    return true;
                }
            }
            Ask($"How much does {_name} spend in dollars?");
            _answer = total;
            return true;
        }

        /// <summary>Two or three people compared by "more than" and "times as many": how many do they have together?</summary>
        public bool Comparison()
        {
            string other = g.Pick(Names);
            if (other == _name) return false;
            int a = Operand();
            Ask($"{_name} has {N(a)} {_thing.Many}.");
            int b;
            if (g._rng.Next(2) == 0)
            {
                int k = Factor();
                Ask($"{other} has {N(k)} times as many {_thing.Many} as {_name}.");
                if (!Step(a, '*', k, s => $"{other} has {s} {_thing.Many}.", out b)) return false;
            }
            else
            {
                int k = Operand();
                Ask($"{other} has {N(k)} more {_thing.Many} than {_name}.");
                if (!Step(a, '+', k, s => $"{other} has {s} {_thing.Many}.", out b)) return false;
            }
            int steps = Steps();
            if (steps <= 1)
            {
                Ask($"How many {_thing.Many} does {other} have?");
                _answer = b;
                return true;
            }
            if (steps >= 3)
            {
                string third = g.Pick(Names);
                if (third == _name || third == other) return false;
                int k = Operand();
                Ask($"{third} has {N(k)} fewer {_thing.Many} than {other}.");
                if (!Step(b, '-', k, s => $"{third} has {s} {_thing.Many}.", out int c)) return false;
                if (steps == 3)
                {
                    Ask($"How many {_thing.Many} do {other} and {third} have together?");
                    if (!Step(b, '+', c, s => $"{other} and {third} have {s} {_thing.Many}.", out int bc)) return false;
                    _answer = bc;
                    return true;
                }
                if (!Step(a, '+', b, s => $"{_name} and {other} have {s} {_thing.Many}.", out int ab)) return false;
                if (!Step(ab, '+', c, s => $"All three have {s} {_thing.Many}.", out int all)) return false;
                Ask($"How many {_thing.Many} do the three of them have together?");
                _answer = all;
                return true;
            }
            Ask($"How many {_thing.Many} do they have together?");
            if (!Step(a, '+', b, s => $"Together they have {s} {_thing.Many}.", out int sum)) return false;
            _answer = sum;
            return true;
        }
    }
}
