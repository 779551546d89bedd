// Marks one symbol-version requirement of an ELF64 shared library as weak, so the dynamic
// loader accepts the library when the providing library (here libstdc++) lacks that version.
//
// Why: TorchSharp 0.107.0's libLibTorchSharp.so requires GLIBCXX_3.4.32 solely for
// std::ios_base_library_init, a symbol it never needs at run time; Debian 12's libstdc++ stops
// at GLIBCXX_3.4.30, so dlopen fails. With VER_FLG_WEAK on that Vernaux entry, glibc tolerates
// the missing version and binds the library's other symbols normally.
//
// This file is compiled twice: by MSBuild's RoslynCodeTaskFactory (TorchSharpFix.targets, the
// build step) and by the oracle tests (which define TORCHSHARPFIX_NO_TASK). RoslynCodeTaskFactory
// compiles against netstandard 2.0, hence byte arrays and no Span or BinaryPrimitives.
using System;
using System.IO;
using System.Text;

namespace Caprese.Tools.TorchSharpFix
{
    public enum ElfPatchOutcome
    {
        /// <summary>The flag was set and the file written.</summary>
        Patched,
        /// <summary>The requirement was already weak; nothing written.</summary>
        AlreadyWeak,
        /// <summary>The library does not require that version at all; nothing written.</summary>
        NotRequired,
    }

    public sealed class ElfFormatException : Exception
    {
        public ElfFormatException(string path, string problem)
            : base(path + ": unexpected ELF layout: " + problem) { }
    }

    public static class ElfVersionPatcher
    {
        public const ushort VerFlgWeak = 0x2;
        private const uint ShtStrtab = 3;
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const int VerneedSize = 16;
        private const int VernauxSize = 16;

        /// <summary>
        /// Sets VER_FLG_WEAK on the requirement of <paramref name="versionName"/> from
        /// <paramref name="libraryName"/> in <paramref name="path"/>. The file is replaced through a
        /// temporary file and a rename, so a hard-linked or shared original is never written to.
        /// </summary>
        /// <exception cref="ElfFormatException">The file is not a little-endian ELF64 object with a
        /// consistent .gnu.version_r / .dynstr pair.</exception>
        public static ElfPatchOutcome MakeVersionWeak(string path, string libraryName, string versionName)
        {
            byte[] image = File.ReadAllBytes(path);
            ElfPatchOutcome outcome = MakeVersionWeak(image, path, libraryName, versionName);
            if (outcome == ElfPatchOutcome.Patched)
            {
                // A new file renamed over the old one: a hard link to the NuGet cache is broken
                // rather than written through, and readers never see a half-written library.
                string temp = path + ".patching";
                File.WriteAllBytes(temp, image);
                File.Replace(temp, path, null);
            }
            return outcome;
        }

        /// <summary>The same on an in-memory image (modified in place when the outcome is Patched).</summary>
        public static ElfPatchOutcome MakeVersionWeak(byte[] image, string sourceName, string libraryName, string versionName)
        {
            int flagsOffset;
            ushort flags;
            if (!FindVernaux(image, sourceName, libraryName, versionName, out flagsOffset, out flags))
                return ElfPatchOutcome.NotRequired;
            if ((flags & VerFlgWeak) != 0)
                return ElfPatchOutcome.AlreadyWeak;
            WriteU16(image, flagsOffset, (ushort)(flags | VerFlgWeak));
            return ElfPatchOutcome.Patched;
        }

        /// <summary>Whether the requirement exists and carries VER_FLG_WEAK (for checks and tests).</summary>
        public static bool IsVersionWeak(byte[] image, string sourceName, string libraryName, string versionName)
        {
            int flagsOffset;
            ushort flags;
            return FindVernaux(image, sourceName, libraryName, versionName, out flagsOffset, out flags)
                && (flags & VerFlgWeak) != 0;
        }

        // Walks ELF header -> section headers -> SHT_GNU_verneed (.gnu.version_r) and its linked
        // string table (.dynstr); returns the file offset of the matching Vernaux.vna_flags.
        private static bool FindVernaux(byte[] b, string src, string libraryName, string versionName,
            out int flagsOffset, out ushort flags)
        {
            flagsOffset = -1;
            flags = 0;
            if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F')
                throw new ElfFormatException(src, "no ELF magic");
            if (b[4] != 2)
                throw new ElfFormatException(src, "not a 64-bit ELF (EI_CLASS " + b[4] + ")");
            if (b[5] != 1)
                throw new ElfFormatException(src, "not little-endian (EI_DATA " + b[5] + ")");

            long shoff = (long)ReadU64(b, 0x28);
            int shentsize = ReadU16(b, 0x3A);
            int shnum = ReadU16(b, 0x3C);
            int shstrndx = ReadU16(b, 0x3E);
            if (shoff == 0 || shnum == 0)
                throw new ElfFormatException(src, "no section header table (stripped of sections?)");
            if (shentsize != 64)
                throw new ElfFormatException(src, "section header size " + shentsize + ", expected 64");
            if (shoff < 0 || shoff + (long)shnum * 64 > b.Length)
                throw new ElfFormatException(src, "section header table runs past the end of the file");
            if (shstrndx >= shnum)
                throw new ElfFormatException(src, "e_shstrndx " + shstrndx + " out of range");

            int verneed = -1;
            for (int i = 0; i < shnum; i++)
            {
                if (SectionType(b, shoff, i) != ShtGnuVerneed)
                    continue;
                if (verneed >= 0)
                    throw new ElfFormatException(src, "more than one SHT_GNU_verneed section");
                verneed = i;
            }
            if (verneed < 0)
                throw new ElfFormatException(src, "no SHT_GNU_verneed (.gnu.version_r) section");

            long shstrOff, shstrSize;
            SectionRange(b, src, shoff, shstrndx, out shstrOff, out shstrSize);
            string verneedName = ReadString(b, src, shstrOff, shstrSize, ReadU32(b, SectionHeader(shoff, verneed)));
            if (verneedName != ".gnu.version_r")
                throw new ElfFormatException(src, "the SHT_GNU_verneed section is named '" + verneedName + "', expected .gnu.version_r");

            long vh = SectionHeader(shoff, verneed);
            int strIndex = (int)ReadU32(b, vh + 40); // sh_link: the string table of the names
            uint entryCount = ReadU32(b, vh + 44);   // sh_info: number of Verneed entries
            if (strIndex <= 0 || strIndex >= shnum || SectionType(b, shoff, strIndex) != ShtStrtab)
                throw new ElfFormatException(src, ".gnu.version_r does not link to a string table");
            string strName = ReadString(b, src, shstrOff, shstrSize, ReadU32(b, SectionHeader(shoff, strIndex)));
            if (strName != ".dynstr")
                throw new ElfFormatException(src, ".gnu.version_r links to '" + strName + "', expected .dynstr");

            long vnOff, vnSize, strOff, strSize;
            SectionRange(b, src, shoff, verneed, out vnOff, out vnSize);
            SectionRange(b, src, shoff, strIndex, out strOff, out strSize);

            long entry = vnOff;
            for (uint n = 0; n < entryCount; n++)
            {
                if (entry < vnOff || entry + VerneedSize > vnOff + vnSize)
                    throw new ElfFormatException(src, "Verneed entry " + n + " lies outside .gnu.version_r");
                ushort vnVersion = ReadU16(b, entry);
                ushort vnCnt = ReadU16(b, entry + 2);
                uint vnFile = ReadU32(b, entry + 4);
                uint vnAux = ReadU32(b, entry + 8);
                uint vnNext = ReadU32(b, entry + 12);
                if (vnVersion != 1)
                    throw new ElfFormatException(src, "Verneed entry " + n + " has vn_version " + vnVersion + ", expected 1");
                string file = ReadString(b, src, strOff, strSize, vnFile);

                long aux = entry + vnAux;
                for (int k = 0; k < vnCnt; k++)
                {
                    if (aux < vnOff || aux + VernauxSize > vnOff + vnSize)
                        throw new ElfFormatException(src, "Vernaux " + k + " of " + file + " lies outside .gnu.version_r");
                    uint hash = ReadU32(b, aux);
                    string name = ReadString(b, src, strOff, strSize, ReadU32(b, aux + 8));
                    if (file == libraryName && name == versionName)
                    {
                        // The hash guards against a name table we misread.
                        if (hash != ElfHash(name))
                            throw new ElfFormatException(src, "vna_hash of " + name + " does not match its name");
                        flagsOffset = checked((int)(aux + 4));
                        flags = ReadU16(b, aux + 4);
                        return true;
                    }
                    uint next = ReadU32(b, aux + 12);
                    if (next == 0)
                        break;
                    aux += next;
                }
                if (vnNext == 0)
                    break;
                entry += vnNext;
            }
            return false;
        }

        /// <summary>The SysV ELF hash used in vna_hash.</summary>
        public static uint ElfHash(string name)
        {
            uint h = 0;
            foreach (byte c in Encoding.ASCII.GetBytes(name))
            {
                h = (h << 4) + c;
                uint g = h & 0xf0000000;
                if (g != 0)
                    h ^= g >> 24;
                h &= ~g;
            }
            return h;
        }

        private static long SectionHeader(long shoff, int index) => shoff + (long)index * 64;

        private static uint SectionType(byte[] b, long shoff, int index) => ReadU32(b, SectionHeader(shoff, index) + 4);

        private static void SectionRange(byte[] b, string src, long shoff, int index, out long offset, out long size)
        {
            long h = SectionHeader(shoff, index);
            offset = (long)ReadU64(b, h + 24);
            size = (long)ReadU64(b, h + 32);
            if (offset < 0 || size < 0 || offset + size > b.Length)
                throw new ElfFormatException(src, "section " + index + " runs past the end of the file");
        }

        private static string ReadString(byte[] b, string src, long tableOffset, long tableSize, uint index)
        {
            if (index >= tableSize)
                throw new ElfFormatException(src, "string index " + index + " outside its table");
            long start = tableOffset + index;
            long end = start;
            while (end < tableOffset + tableSize && b[end] != 0)
                end++;
            if (end == tableOffset + tableSize)
                throw new ElfFormatException(src, "unterminated string at index " + index);
            return Encoding.ASCII.GetString(b, (int)start, (int)(end - start));
        }

        private static ushort ReadU16(byte[] b, long o) => (ushort)(b[o] | b[o + 1] << 8);

        private static uint ReadU32(byte[] b, long o) => (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24);

        private static ulong ReadU64(byte[] b, long o) => ReadU32(b, o) | (ulong)ReadU32(b, o + 4) << 32;

        private static void WriteU16(byte[] b, int o, ushort v)
        {
            b[o] = (byte)v;
            b[o + 1] = (byte)(v >> 8);
        }
    }

#if !TORCHSHARPFIX_NO_TASK
    /// <summary>MSBuild task: weakens one version requirement in each of <see cref="Libraries"/>.</summary>
    public sealed class WeakenElfVersionRequirement : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Libraries { get; set; }

        [Microsoft.Build.Framework.Required]
        public string RequiredLibrary { get; set; }

        [Microsoft.Build.Framework.Required]
        public string Version { get; set; }

        public override bool Execute()
        {
            foreach (var item in Libraries)
            {
                string path = item.GetMetadata("FullPath");
                try
                {
                    ElfPatchOutcome outcome = ElfVersionPatcher.MakeVersionWeak(path, RequiredLibrary, Version);
                    var importance = outcome == ElfPatchOutcome.Patched
                        ? Microsoft.Build.Framework.MessageImportance.High
                        : Microsoft.Build.Framework.MessageImportance.Low;
                    Log.LogMessage(importance, "TorchSharpFix: " + path + ": " + Version + " (" + RequiredLibrary + ") " + Describe(outcome));
                }
                catch (ElfFormatException e)
                {
                    Log.LogError("TorchSharpFix: " + e.Message + ". The TorchSharp native library changed shape; revisit tools/TorchSharpFix.");
                }
                catch (IOException e)
                {
                    Log.LogError("TorchSharpFix: cannot patch " + path + ": " + e.Message);
                }
            }
            return !Log.HasLoggedErrors;
        }

        private static string Describe(ElfPatchOutcome outcome)
        {
            switch (outcome)
            {
                case ElfPatchOutcome.Patched: return "marked weak";
                case ElfPatchOutcome.AlreadyWeak: return "already weak";
                default: return "not required, left as is";
            }
        }
    }
#endif
}
