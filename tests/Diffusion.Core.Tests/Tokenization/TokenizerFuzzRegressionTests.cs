namespace Diffusion.Core.Tests.Tokenization;

/// <summary>Prompts AFL++ found (fuzz/corpus/tokenizer/regression-*): the tokenizer encodes them without an exception.</summary>
public sealed class TokenizerFuzzRegressionTests
{
    public static TheoryData<string> Regressions() => new(FuzzCorpus.Regressions("tokenizer"));

    [Theory]
    [MemberData(nameof(Regressions))]
    public void A_prompt_the_fuzzer_found_encodes(string file)
    {
        // Each holds U+FFFE, on which .NET's NFC normalization threw ArgumentException.
        string prompt = System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(file));
        Assert.Equal(77, TokenizerFiles.Clip.Encode(prompt).Ids.Length);
    }
}
