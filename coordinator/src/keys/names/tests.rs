//! Unit tests of the name key: the folding table, the merge rule, plurals
//! by topic.

use super::*;

/// The expected (head, qualifier), or `None` for no name key.
type Expected<'a> = Option<(&'a str, Option<&'a str>)>;

fn check(input: &str, expected: Expected<'_>) {
    let expected =
        expected.map(|(head, qualifier)| (head.to_string(), qualifier.map(str::to_string)));
    let key = name_key(input).map(|k| (k.head, k.qualifier));
    assert_eq!(key, expected, "name_key({input:?})");
}

#[test]
fn name_key_table() {
    let cases: &[(&str, Expected)] = &[
        ("Salmaella", Some(("salmaella", None))),
        (
            "Salmaella (Bergamo, Italy)",
            Some(("salmaella", Some("bergamo italy"))),
        ),
        (
            "Chablis (French Cheese of France)",
            Some(("chablis", Some("french cheese of france"))),
        ),
        (
            "Louvre Museum (Musée du Louvre)",
            Some(("louvre museum", Some("musee du louvre"))),
        ),
        ("The Louvre", Some(("louvre", None))),
        // Regular plurals fold to the singular; short words and
        // `-ss`, `-us`, `-is` endings stay.
        ("Bananas", Some(("banana", None))),
        ("Elderberries", Some(("elderberry", None))),
        ("Wild cherries", Some(("wild cherry", None))),
        // A title-cased name of two words or more is a person's or a
        // title's: its last word is not a plural.
        ("Wild Cherries", Some(("wild cherries", None))),
        ("Robert Adams", Some(("robert adams", None))),
        ("Robert Adam", Some(("robert adam", None))),
        ("Churches of Rome", Some(("churches of rome", None))),
        ("Boxes", Some(("box", None))),
        ("Glasses", Some(("glass", None))),
        ("Blue cheeses", Some(("blue cheese", None))),
        ("Horses", Some(("horse", None))),
        ("Prizes", Some(("prize", None))),
        ("Glass", Some(("glass", None))),
        ("Venus", Some(("venus", None))),
        ("Paris", Some(("paris", None))),
        ("Cars", Some(("cars", None))),
        (
            "Eiffel Tower - iconic iron tower",
            Some(("eiffel tower", None)),
        ),
        ("Brie — a soft French cheese", Some(("brie", None))),
        (
            "Mission: Impossible - Fallout",
            Some(("mission impossible fallout", None)),
        ),
        ("Apple - iPhone", Some(("apple iphone", None))),
        (
            "Louvre - The Largest Art Museum In The World",
            Some(("louvre", None)),
        ),
        ("Notre-Dame de Paris", Some(("notre dame de paris", None))),
        ("Notre Dame de Paris", Some(("notre dame de paris", None))),
        (
            "St. Peter's Basilica",
            Some(("saint peters basilica", None)),
        ),
        (
            "Saint Peter’s Basilica",
            Some(("saint peters basilica", None)),
        ),
        ("Main St.", Some(("main st", None))),
        ("Procter & Gamble", Some(("procter and gamble", None))),
        ("Paris, Texas", Some(("paris texas", None))),
        ("Champs-Élysées", Some(("champs elysees", None))),
        ("King Henry IV", Some(("henry iv", None))),
        ("Pope John Paul II", Some(("john paul ii", None))),
        ("Sir Tom Jones", Some(("tom jones", None))),
        ("King Kong", Some(("king kong", None))),
        ("Ft. Worth", Some(("fort worth", None))),
        ("2. Bundesliga", Some(("2 bundesliga", None))),
        ("Henry IV", Some(("henry iv", None))),
        ("Toy Story 2", Some(("toy story 2", None))),
        ("C++", Some(("c++", None))),
        ("C#", Some(("c#", None))),
        ("C♯", Some(("c#", None))),
        ("C♯ minor", Some(("c# minor", None))),
        ("B♭", Some(("b♭", None))),
        ("B♮", Some(("b♮", None))),
        // Marks that make a letter of their own stay; `ё` is `е`.
        ("Año", Some(("año", None))),
        ("Мой", Some(("мой", None))),
        ("Ёлка", Some(("елка", None))),
        ("Python 3.11", Some(("python 3.11", None))),
        ("1,000 Islands", Some(("1000 island", None))),
        ("U.S.A.", Some(("usa", None))),
        ("Crème Brûlée", Some(("creme brulee", None))),
        ("Smørrebrød", Some(("smorrebrod", None))),
        ("Straße", Some(("strasse", None))),
        ("Lou\u{200B}vre", Some(("louvre", None))),
        ("L'Arc de Triomphe", Some(("arc de triomphe", None))),
        ("La Sagrada Familia", Some(("sagrada familia", None))),
        ("El Salvador", Some(("el salvador", None))),
        ("Le Mans", Some(("le mans", None))),
        ("Mt. Everest", Some(("mount everest", None))),
        ("Mercury (planet)", Some(("mercury", Some("planet")))),
        ("Dune [2021]", Some(("dune", Some("2021")))),
        ("Film (x (y) z).", Some(("film", Some("x y z")))),
        ("(1984)", Some(("1984", None))),
        ("東京タワー", Some(("東京タワー", None))),
        ("किताब", Some(("किताब", None))),
        ("!!!", None),
        ("...", None),
    ];
    for &(input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn the_merge_rule() {
    let merges = |a: &str, b: &str| name_key(a).unwrap().merges_with(&name_key(b).unwrap());
    for (a, b, expected) in [
        ("Salmaella", "Salmaella (Bergamo, Italy)", true),
        (
            "Salmaella (Bergamo, Italy)",
            "Salmaella (Bergamo, Italy.)",
            true,
        ),
        (
            "Salmaella (Bergamo, Italy)",
            "Salmaella (Tuscany, Italy)",
            false,
        ),
        ("Mercury (planet)", "Mercury (element)", false),
        // A year or a class label tells the item from the bare name; a
        // place or another name does not.
        ("Mercury", "Mercury (element)", false),
        ("Dune", "Dune (1984)", false),
        ("Dune", "Dune [2021]", false),
        ("King Kong (1933)", "King Kong (2005)", false),
        ("Solaris", "Solaris (1972 film)", false),
        ("Camembert", "Camembert (Normandy)", true),
        ("United Kingdom", "United Kingdom (UK)", true),
        ("Dune (1984)", "DUNE [1984]", true),
        // Diacritics: dropped by a model, or another word.
        ("Crème brûlée", "Creme brulee", true),
        ("Comté", "Comte", true),
        ("pêche", "péché", false),
        ("pêche", "peche", true),
        ("Año", "Ano", false),
        ("Мой", "Мои", false),
        ("Ёлка", "Елка", true),
        ("C♯", "C", false),
        ("C♯", "C#", true),
        ("B♭", "B", false),
        ("Robert Adams", "Robert Adam", false),
        ("Toy Story", "Toy Story 2", false),
        ("Bundesliga", "2. Bundesliga", false),
        ("Henry IV", "Henry V", false),
        ("Paris", "Paris, Texas", false),
    ] {
        assert_eq!(merges(a, b), expected, "{a:?} / {b:?}");
        assert_eq!(merges(b, a), expected, "{b:?} / {a:?}");
    }
}

#[test]
fn plurals_fold_unless_the_topic_names_titles() {
    for (topic, folds) in [
        ("Rare cheeses", true),
        ("Fruits", true),
        ("Dog breeds", true),
        ("", true),
        ("Science fiction films", false),
        ("Horror MOVIES of the 80s", false),
        ("Beatles songs", false),
        ("Video games", false),
        ("Shakespeare's plays", false),
        ("TV series", false),
        ("Board games", false),
        ("Novels by Dickens", false),
        // A word merely containing a titled one is not it.
        ("Filmmakers", true),
        ("Playgrounds", true),
    ] {
        assert_eq!(NameRules::for_topic(topic).fold_plurals, folds, "{topic:?}");
    }
    let key = |s: &str, topic: &str| {
        Namer::default()
            .key(s, NameRules::for_topic(topic))
            .unwrap()
            .head
    };
    assert_eq!(key("Aliens", "Fruits"), "alien");
    assert_eq!(key("Aliens", "Science fiction films"), "aliens");
    assert_eq!(key("Wild cherries", "Cherry cultivars"), "wild cherry");
    assert_eq!(key("Wild cherries", "Songs"), "wild cherries");
    assert_eq!(key("Robert Adams", "Architects"), "robert adams");
}
