#!/usr/bin/env bash
# Packs Diffusion.Core into a local feed, creates a console app outside the repository that references
# the package and Microsoft.ML.OnnxRuntime (the native CPU runtime), and generates one image with it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$(mktemp -d)}"
rm -rf "$work" && mkdir -p "$work/feed" "$work/app"
version="0.1.0-smoke.$(date +%s)"

dotnet pack "$repo/src/Diffusion.Core/Diffusion.Core.csproj" -c Release -o "$work/feed" -p:Version="$version" --nologo -v quiet
ls "$work/feed"
unzip -l "$work/feed/Diffusion.Core.$version.nupkg" | grep -E "README.md|lib/net8.0/Diffusion.Core.(dll|xml)|lib/net10.0/Diffusion.Core.(dll|xml)" \
  || { echo "package lacks README or XML docs"; exit 1; }
[ -f "$work/feed/Diffusion.Core.$version.snupkg" ] || { echo "symbols package missing"; exit 1; }

cp "$repo/tests/PackageSmoke/Program.cs.txt" "$work/app/Program.cs"
cat > "$work/app/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$work/feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
XML
cat > "$work/app/SmokeApp.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Diffusion.Core" Version="$version" />
    <PackageReference Include="Microsoft.ML.OnnxRuntime" Version="1.31.1" />
  </ItemGroup>
</Project>
XML
model="$(cd "$repo/.." && pwd)/shared/models/tiny-sd"
[ -d "$model" ] || { echo "missing $model (../shared next to the repository)"; exit 1; }
dotnet run --project "$work/app/SmokeApp.csproj" -c Release -- "$model" "$work/out.ppm"
test -s "$work/out.ppm"
