namespace Diffusion.Core.Tests.Tokenization;

/// <summary>A temporary tokenizer folder: CLIP's vocab.json and merges.txt copied from ../shared, plus test-written files.</summary>
internal sealed class TemporaryTokenizerDirectory : IDisposable
{
    public TemporaryTokenizerDirectory(bool copyVocab = true, bool copyMerges = true)
    {
        string source = TokenizerFiles.ClipDirectory;
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "clip-tokenizer-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
        if (copyVocab)
            File.Copy(System.IO.Path.Combine(source, "vocab.json"), VocabPath);
        if (copyMerges)
            File.Copy(System.IO.Path.Combine(source, "merges.txt"), MergesPath);
    }

    public string Path { get; }

    public string VocabPath => System.IO.Path.Combine(Path, "vocab.json");

    public string MergesPath => System.IO.Path.Combine(Path, "merges.txt");

    public string Write(string fileName, string text)
    {
        string path = System.IO.Path.Combine(Path, fileName);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is harmless.
        }
    }
}
